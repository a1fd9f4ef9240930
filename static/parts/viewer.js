// Zoom and pan over an image: the content (the image and its boxes, in the image's own pixels) is
// sized and moved inside a fixed frame. Wheel zooms at the pointer, buttons and + − 0 keys zoom
// at the centre, a drag pans when the caller hands it over (startPan), Shift+arrows pan.

const MIN_ZOOM = 0.5;
const MAX_ZOOM = 40;
const STEP = 1.5;

export function viewer(frame, content, { width, height, onChange = () => {} }) {
  const view = { zoom: 1, x: 0, y: 0, fit: 1 };

  function scale() {
    return view.fit * view.zoom;
  }

  // Sized rather than CSS-scaled: inside, SVG strokes keep their width on screen (non-scaling-stroke
  // ignores CSS transforms).
  function apply() {
    content.style.width = `${width * scale()}px`;
    content.style.height = `${height * scale()}px`;
    content.style.transform = `translate(${view.x}px, ${view.y}px)`;
    onChange(view.zoom);
  }

  function fit() {
    const w = frame.clientWidth || 1;
    const h = frame.clientHeight || 1;
    view.fit = Math.min(w / width, h / height);
    view.zoom = 1;
    view.x = (w - width * view.fit) / 2;
    view.y = (h - height * view.fit) / 2;
    apply();
  }

  // Zoom by `factor`, keeping the image point under (cx, cy) (frame pixels) where it is.
  function zoomAt(factor, cx = frame.clientWidth / 2, cy = frame.clientHeight / 2) {
    const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
    const before = scale();
    const px = (cx - view.x) / before;
    const py = (cy - view.y) / before;
    view.zoom = zoom;
    view.x = cx - px * scale();
    view.y = cy - py * scale();
    apply();
  }

  function panBy(dx, dy) {
    view.x += dx;
    view.y += dy;
    apply();
  }

  frame.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const r = frame.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.002), event.clientX - r.left, event.clientY - r.top);
    },
    { passive: false },
  );

  // A drag that pans, from a pointerdown the caller did not use for boxes.
  function startPan(event) {
    const start = { cx: event.clientX, cy: event.clientY, x: view.x, y: view.y };
    frame.classList.add("panning");
    frame.setPointerCapture(event.pointerId);
    const move = (e) => {
      view.x = start.x + e.clientX - start.cx;
      view.y = start.y + e.clientY - start.cy;
      apply();
    };
    const up = () => {
      frame.classList.remove("panning");
      frame.removeEventListener("pointermove", move);
      frame.removeEventListener("pointerup", up);
      frame.removeEventListener("pointercancel", up);
    };
    frame.addEventListener("pointermove", move);
    frame.addEventListener("pointerup", up);
    frame.addEventListener("pointercancel", up);
  }

  // Keys for the viewer; true when the key was one of them.
  function key(event) {
    const pan = 40;
    if (event.key === "+" || event.key === "=") zoomAt(STEP);
    else if (event.key === "-" || event.key === "_") zoomAt(1 / STEP);
    else if (event.key === "0") fit();
    else if (event.shiftKey && event.key === "ArrowLeft") panBy(pan, 0);
    else if (event.shiftKey && event.key === "ArrowRight") panBy(-pan, 0);
    else if (event.shiftKey && event.key === "ArrowUp") panBy(0, pan);
    else if (event.shiftKey && event.key === "ArrowDown") panBy(0, -pan);
    else return false;
    return true;
  }

  let lastSize = "";
  const resize = new ResizeObserver(() => {
    const size = `${frame.clientWidth}x${frame.clientHeight}`;
    if (size === lastSize) return;
    lastSize = size;
    if (view.zoom === 1) fit();
  });
  resize.observe(frame);
  fit();

  return {
    fit,
    zoomIn: () => zoomAt(STEP),
    zoomOut: () => zoomAt(1 / STEP),
    zoomAt,
    panBy,
    startPan,
    key,
    scale, // screen pixels per image pixel
    destroy: () => resize.disconnect(),
  };
}
