// A box that scrolls sideways (a wide table on a phone) must be reachable by keyboard, or its hidden
// columns are out of reach: each such box in the view becomes a tab stop, kept so as views change.

const SCROLLABLE = "table, .scroll-x";

function mark(root) {
  for (const box of root.querySelectorAll(SCROLLABLE)) {
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.hasAttribute("tabindex")) {
      box.tabIndex = 0;
      box.dataset.scrollStop = "";
    } else if (!scrolls && "scrollStop" in box.dataset) {
      box.removeAttribute("tabindex");
      delete box.dataset.scrollStop;
    }
  }
}

export function keepScrollablesFocusable(root) {
  let frame = 0;
  const later = () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => mark(root));
  };
  new MutationObserver(later).observe(root, { childList: true, subtree: true });
  window.addEventListener("resize", later);
}
