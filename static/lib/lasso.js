// Lasso geometry for the dataset map: which points a freehand outline encloses. Pure functions over
// plain numbers, so the map's canvas code stays about drawing.

// Whether (x, y) lies inside `polygon` ([[x, y], …], closed implicitly): the even-odd rule, counting
// the edges a ray to the right crosses.
export function inside(x, y, polygon) {
  let within = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i, i += 1) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) within = !within;
  }
  return within;
}

// The indices of the points ({x, y}) inside `polygon`; the bounding box rules most points out
// cheaply, which matters at a hundred thousand points.
export function enclosed(points, polygon) {
  if (polygon.length < 3) return [];
  let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of polygon) {
    left = Math.min(left, x);
    right = Math.max(right, x);
    top = Math.min(top, y);
    bottom = Math.max(bottom, y);
  }
  const out = [];
  points.forEach((p, i) => {
    if (p.x >= left && p.x <= right && p.y >= top && p.y <= bottom && inside(p.x, p.y, polygon)) out.push(i);
  });
  return out;
}

// The index of the point nearest (x, y) within `radius`, or -1.
export function nearest(points, x, y, radius) {
  let best = -1;
  let bestDistance = radius * radius;
  points.forEach((p, i) => {
    const d = (p.x - x) ** 2 + (p.y - y) ** 2;
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  });
  return best;
}
