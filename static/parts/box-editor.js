// Boxes over an image, in the image's own pixels: drawn by dragging on empty space, selected by a
// click, moved by dragging the box, resized by its corner handles, deleted with Delete; the
// keyboard moves (arrows, Shift for 10 px) and resizes (Alt+arrows) the selected box.

import { colorOf } from "../lib/colors.js";

const SVG = "http://www.w3.org/2000/svg";
const HANDLE_PX = 10; // on screen, whatever the zoom
const MIN = 2;

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function boxEditor(svg, { width, height, classes, editable, scale, newLabel, onChange, onSelect }) {
  const editor = { boxes: [], selected: -1 };
  let gesture = null;

  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");

  function point(event) {
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return { x: p.x, y: p.y };
  }

  function clamp(box) {
    const w = Math.min(Math.max(MIN, box.w), width);
    const h = Math.min(Math.max(MIN, box.h), height);
    return { ...box, w, h, x: Math.min(Math.max(0, box.x), width - w), y: Math.min(Math.max(0, box.y), height - h) };
  }

  function draw() {
    const unit = 1 / Math.max(1e-6, scale()); // image pixels per screen pixel
    const nodes = [];
    editor.boxes.forEach((b, i) => {
      const g = el("g", { class: i === editor.selected ? "box selected" : "box", "data-index": i });
      const rect = el("rect", { class: "body", x: b.x, y: b.y, width: b.w, height: b.h });
      rect.style.stroke = colorOf(b.label, classes);
      const text = el("text", { x: b.x + 2 * unit, y: b.y + 12 * unit, "font-size": 12 * unit });
      text.textContent = b.label;
      g.append(rect, text);
      if (i === editor.selected && editable) {
        const s = HANDLE_PX * unit;
        for (const [name, hx, hy] of [["nw", b.x, b.y], ["ne", b.x + b.w, b.y], ["sw", b.x, b.y + b.h], ["se", b.x + b.w, b.y + b.h]]) {
          g.append(el("rect", { class: "handle", "data-handle": name, x: hx - s / 2, y: hy - s / 2, width: s, height: s }));
        }
      }
      nodes.push(g);
    });
    if (gesture?.kind === "draw" && gesture.ghost) nodes.push(gesture.ghost);
    svg.replaceChildren(...nodes);
  }

  function select(i) {
    editor.selected = i;
    draw();
    onSelect(i);
  }

  function changed() {
    draw();
    onChange();
  }

  // A pointerdown on the image: true when it starts a box gesture (else the caller may pan).
  function down(event) {
    if (!editable || event.button !== 0) return false;
    const p = point(event);
    const target = event.target;
    const g = target.closest?.("g.box");
    if (target.dataset?.handle && g) {
      const i = Number(g.dataset.index);
      gesture = { kind: "resize", i, handle: target.dataset.handle, start: p, box: { ...editor.boxes[i] } };
    } else if (g) {
      const i = Number(g.dataset.index);
      if (editor.selected !== i) select(i);
      gesture = { kind: "move", i, start: p, box: { ...editor.boxes[i] } };
    } else {
      if (editor.selected >= 0) select(-1);
      gesture = { kind: "draw", start: p, ghost: el("rect", { class: "ghost", x: p.x, y: p.y, width: 0, height: 0 }) };
      svg.append(gesture.ghost);
    }
    svg.setPointerCapture(event.pointerId);
    return true;
  }

  svg.addEventListener("pointermove", (event) => {
    if (!gesture) return;
    const p = point(event);
    const dx = p.x - gesture.start.x;
    const dy = p.y - gesture.start.y;
    gesture.moved ||= Math.abs(dx) + Math.abs(dy) > 0.5;
    if (gesture.kind === "draw") {
      const r = { x: Math.min(p.x, gesture.start.x), y: Math.min(p.y, gesture.start.y), width: Math.abs(dx), height: Math.abs(dy) };
      for (const [k, v] of Object.entries(r)) gesture.ghost.setAttribute(k, v);
      return;
    }
    const b = gesture.box;
    let next;
    if (gesture.kind === "move") next = { ...b, x: b.x + dx, y: b.y + dy };
    else {
      const left = gesture.handle.includes("w") ? b.x + dx : b.x;
      const right = gesture.handle.includes("e") ? b.x + b.w + dx : b.x + b.w;
      const top = gesture.handle.includes("n") ? b.y + dy : b.y;
      const bottom = gesture.handle.includes("s") ? b.y + b.h + dy : b.y + b.h;
      next = { ...b, x: Math.min(left, right), y: Math.min(top, bottom), w: Math.abs(right - left), h: Math.abs(bottom - top) };
    }
    editor.boxes[gesture.i] = clamp(next);
    draw();
  });

  function up(event) {
    if (!gesture) return;
    const done = gesture;
    gesture = null;
    if (done.kind === "draw") {
      const p = point(event);
      const box = {
        label: newLabel(),
        x: Math.max(0, Math.min(p.x, done.start.x)),
        y: Math.max(0, Math.min(p.y, done.start.y)),
        w: Math.abs(p.x - done.start.x),
        h: Math.abs(p.y - done.start.y),
      };
      box.w = Math.min(box.w, width - box.x);
      box.h = Math.min(box.h, height - box.y);
      if (box.w >= MIN && box.h >= MIN && box.label) {
        editor.boxes.push(box);
        editor.selected = editor.boxes.length - 1;
        onSelect(editor.selected);
        return changed();
      }
      return draw();
    }
    if (done.moved) changed();
  }
  svg.addEventListener("pointerup", up);
  svg.addEventListener("pointercancel", up);

  // Keys for the selected box; true when the key was one of them.
  function key(event) {
    const i = editor.selected;
    if (i < 0 || !editable) return false;
    if (event.key === "Escape") {
      select(-1);
      return true;
    }
    if (event.key === "Delete" || event.key === "Backspace") {
      remove(i);
      return true;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(event.key in arrows) || event.ctrlKey || event.metaKey) return false;
    const [dx, dy] = arrows[event.key].map((v) => v * (event.shiftKey ? 10 : 1));
    const b = editor.boxes[i];
    editor.boxes[i] = clamp(event.altKey ? { ...b, w: b.w + dx, h: b.h + dy } : { ...b, x: b.x + dx, y: b.y + dy });
    changed();
    return true;
  }

  // A box by keyboard: a quarter of the image, centred and selected, for the arrows to place and size.
  function add(label) {
    const w = Math.max(MIN, Math.round(width / 4));
    const h = Math.max(MIN, Math.round(height / 4));
    editor.boxes.push(clamp({ label, x: Math.round((width - w) / 2), y: Math.round((height - h) / 2), w, h }));
    editor.selected = editor.boxes.length - 1;
    onSelect(editor.selected);
    changed();
  }

  function remove(i) {
    editor.boxes.splice(i, 1);
    editor.selected = -1;
    onSelect(-1);
    changed();
  }

  function set(boxes) {
    editor.boxes = boxes.map((b) => ({ ...b }));
    editor.selected = -1;
    draw();
  }

  return { editor, draw, down, key, select, add, remove, set, relabel: (i, label) => {
    editor.boxes[i] = { ...editor.boxes[i], label };
    changed();
  } };
}

// Two boxes are the same when their class matches and their corners are within half a pixel.
export function sameBox(a, b) {
  return a.label === b.label && ["x", "y", "w", "h"].every((k) => Math.abs(a[k] - b[k]) < 0.5);
}

// My changes (from `base` to `mine`) made again on `theirs`: their boxes minus the ones I removed
// or moved, plus the ones I added or moved, none twice.
export function reapply(base, mine, theirs) {
  const removed = base.filter((b) => !mine.some((m) => sameBox(m, b)));
  const added = mine.filter((m) => !base.some((b) => sameBox(b, m)));
  const kept = theirs.filter((t) => !removed.some((r) => sameBox(r, t)));
  return [...kept, ...added.filter((a) => !kept.some((t) => sameBox(t, a)))].map((b) => ({ ...b }));
}
