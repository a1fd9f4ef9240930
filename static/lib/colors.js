// One colour per class, the same everywhere (bars, chips, boxes).
const PALETTE = ["#2358c4", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5c940d", "#364fc7", "#a61e4d"];

export function colorOf(name, classes = []) {
  const i = classes.indexOf(name);
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
