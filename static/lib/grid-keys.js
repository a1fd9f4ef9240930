// Where a key moves the active cell of a grid (the ARIA grid pattern's keys), as a pure function:
// arrows by one cell or one row, Home/End to the row's ends (with Ctrl: the first and last item),
// PageUp/PageDown by the rows on screen. Returns the new index, or null for a key it does not move on.

export function moveFrom(index, key, { cols, count, pageRows, ctrl = false }) {
  if (count === 0) return null;
  const row = Math.floor(index / cols);
  const target = {
    ArrowRight: index + 1,
    ArrowLeft: index - 1,
    ArrowDown: index + cols,
    ArrowUp: index - cols,
    Home: ctrl ? 0 : row * cols,
    End: ctrl ? count - 1 : row * cols + cols - 1,
    PageDown: index + pageRows * cols,
    PageUp: index - pageRows * cols,
  }[key];
  if (target === undefined) return null;
  return Math.min(count - 1, Math.max(0, target));
}
