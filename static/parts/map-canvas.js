// The dataset map's drawing surface: points ({x, y} in 0..1) on a <canvas>, zoomed with the wheel or
// + − 0, panned by dragging or with the arrow keys, and a lasso (shift-drag, or any drag in lasso
// mode) that hands the enclosed points to the caller. A click on a point opens it. The lasso is
// drawn on a second canvas over the first, so dragging it does not redraw every point.

import { enclosed, nearest } from "../lib/lasso.js";

const PAD = 16; // CSS pixels around the map at fit, so edge points are whole and easy to lasso from outside
const RADIUS = 3;
const HIT = 6; // how near (CSS pixels) a click must land to open a point
const CLICK = 4; // a press that moves less than this is a click, not a drag
const STEP = 1.5;
const MIN_ZOOM = 0.5;
const MAX_ZOOM = 200;

export function mapCanvas(frame, { points, colorOf, selected, mode, onLasso, onOpen, onHover }) {
  const base = frame.querySelector("canvas.map-points");
  const overlay = frame.querySelector("canvas.map-lasso");
  const view = { x: 0, y: 0, scale: 1, fit: 1, width: 0, height: 0 };
  let moved = false; // whether the user zoomed or panned: until then a resize fits the map again
  let frameRequest = 0;

  const toScreen = (p) => [view.x + p.x * view.scale, view.y + (1 - p.y) * view.scale];
  const toWorld = (sx, sy) => [(sx - view.x) / view.scale, 1 - (sy - view.y) / view.scale];

  function fit() {
    moved = false;
    view.fit = Math.max(1, Math.min(view.width, view.height) - 2 * PAD);
    view.scale = view.fit;
    view.x = (view.width - view.scale) / 2;
    view.y = (view.height - view.scale) / 2;
    draw();
  }

  function resize() {
    const { width, height } = base.getBoundingClientRect();
    if (!width || !height) return;
    const ratio = window.devicePixelRatio || 1;
    for (const canvas of [base, overlay]) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
    }
    // A zoomed or panned map keeps what is at its centre there.
    view.x += (width - view.width) / 2;
    view.y += (height - view.height) / 2;
    Object.assign(view, { width, height });
    if (moved) draw();
    else fit();
  }

  // Every point in view, one path per colour (a fill per colour, not per point); the selection on top.
  function paint() {
    frameRequest = 0;
    const g = base.getContext("2d");
    g.clearRect(0, 0, view.width, view.height);
    const radius = Math.min(8, RADIUS * Math.max(1, Math.sqrt(view.scale / view.fit) / 2));
    const byColour = new Map();
    const chosen = [];
    points.forEach((p, i) => {
      const [sx, sy] = toScreen(p);
      if (sx < -radius || sy < -radius || sx > view.width + radius || sy > view.height + radius) return;
      if (selected(i)) chosen.push([sx, sy, p]);
      const colour = colorOf(p);
      if (!byColour.has(colour)) byColour.set(colour, []);
      byColour.get(colour).push(sx, sy);
    });
    for (const [colour, xy] of byColour) {
      g.fillStyle = colour;
      g.beginPath();
      for (let i = 0; i < xy.length; i += 2) {
        g.moveTo(xy[i] + radius, xy[i + 1]);
        g.arc(xy[i], xy[i + 1], radius, 0, 2 * Math.PI);
      }
      g.fill();
    }
    g.lineWidth = 2;
    g.strokeStyle = "#16213a";
    for (const [sx, sy, p] of chosen) {
      g.fillStyle = colorOf(p);
      g.beginPath();
      g.arc(sx, sy, radius + 2, 0, 2 * Math.PI);
      g.fill();
      g.stroke();
    }
  }

  function draw() {
    if (!frameRequest) frameRequest = requestAnimationFrame(paint);
  }

  function zoomAt(factor, cx = view.width / 2, cy = view.height / 2) {
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, (view.scale * factor) / view.fit));
    const [wx, wy] = toWorld(cx, cy);
    moved = true;
    view.scale = zoom * view.fit;
    view.x = cx - wx * view.scale;
    view.y = cy - (1 - wy) * view.scale;
    draw();
  }

  function panBy(dx, dy) {
    moved = true;
    view.x += dx;
    view.y += dy;
    draw();
  }

  function local(event) {
    const r = base.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  function pointAt(sx, sy) {
    const [wx, wy] = toWorld(sx, sy);
    const i = nearest(points, wx, wy, HIT / view.scale);
    return i >= 0 ? points[i] : null;
  }

  function drawLasso(path) {
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, view.width, view.height);
    if (path.length < 2) return;
    g.beginPath();
    g.moveTo(...path[0]);
    for (const xy of path.slice(1)) g.lineTo(...xy);
    g.closePath();
    g.fillStyle = "rgba(240, 165, 0, .12)";
    g.fill();
    g.setLineDash([6, 4]);
    g.lineWidth = 2;
    g.strokeStyle = "#b07800";
    g.stroke();
  }

  // One press: a lasso, a pan, or (if it barely moved) a click.
  let press = null;
  function down(event) {
    if (event.button !== 0 && event.button !== 1) return;
    event.preventDefault();
    base.focus({ preventScroll: true });
    base.setPointerCapture(event.pointerId);
    const at = local(event);
    const lasso = event.button === 0 && (event.shiftKey || mode() === "lasso");
    press = { start: at, last: at, moved: false, lasso, add: event.ctrlKey || event.metaKey, path: [at] };
    frame.classList.toggle("lassoing", lasso);
    frame.classList.toggle("panning", !lasso);
  }
  function move(event) {
    const at = local(event);
    if (!press) {
      onHover(pointAt(...at), at);
      return;
    }
    if (Math.hypot(at[0] - press.start[0], at[1] - press.start[1]) >= CLICK) press.moved = true;
    if (press.lasso) {
      press.path.push(at);
      drawLasso(press.path);
    } else {
      panBy(at[0] - press.last[0], at[1] - press.last[1]);
    }
    press.last = at;
  }
  function up(event) {
    if (!press) return;
    const done = press;
    press = null;
    frame.classList.remove("lassoing", "panning");
    drawLasso([]);
    if (!done.moved) {
      const point = pointAt(...done.start);
      if (point) onOpen(point);
      return;
    }
    if (done.lasso && event.type === "pointerup") {
      const polygon = done.path.map(([sx, sy]) => toWorld(sx, sy));
      onLasso(enclosed(points, polygon), done.add);
    }
  }
  function wheel(event) {
    event.preventDefault();
    zoomAt(Math.exp(-event.deltaY * 0.002), ...local(event));
  }

  // Keys while the map has the focus: + − zoom, 0 fits, arrows pan. True when the key was used.
  function key(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return false;
    const nudge = 60;
    const moves = { ArrowLeft: [nudge, 0], ArrowRight: [-nudge, 0], ArrowUp: [0, nudge], ArrowDown: [0, -nudge] };
    if (event.key === "+" || event.key === "=") zoomAt(STEP);
    else if (event.key === "-" || event.key === "_") zoomAt(1 / STEP);
    else if (event.key === "0") fit();
    else if (moves[event.key]) panBy(...moves[event.key]);
    else return false;
    return true;
  }

  const observer = new ResizeObserver(resize);
  observer.observe(frame);
  base.addEventListener("pointerdown", down);
  base.addEventListener("pointermove", move);
  base.addEventListener("pointerup", up);
  base.addEventListener("pointercancel", up);
  base.addEventListener("pointerleave", () => press || onHover(null));
  base.addEventListener("wheel", wheel, { passive: false });
  resize();
  return {
    draw,
    fit,
    key,
    zoomIn: () => zoomAt(STEP),
    zoomOut: () => zoomAt(1 / STEP),
    destroy() {
      observer.disconnect();
      cancelAnimationFrame(frameRequest);
    },
  };
}
