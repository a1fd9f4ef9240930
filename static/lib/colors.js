// One colour per class, the same everywhere (bars, chips, boxes, text): each reads as text at
// 4.5:1 or more on white and on the selection's tint (#e8eefb), as WCAG AA asks.
const PALETTE = ["#2358c4", "#be3e0d", "#257936", "#a33abc", "#8a5a00", "#0a7586", "#c2255c", "#467209", "#364fc7", "#a61e4d"];

export function colorOf(name, classes = []) {
  const i = classes.indexOf(name);
  if (i >= 0) return PALETTE[i % PALETTE.length];
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
