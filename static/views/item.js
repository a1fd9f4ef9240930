// One item: the full image with its boxes drawn over it, metadata, tags, label; labelers draw
// boxes by dragging on the image and save them (a stale version is refused, never overwritten).

import { api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatBytes, html, mount } from "../lib/html.js";

const SVG = "http://www.w3.org/2000/svg";

export async function render(root, { datasetId, itemId }, ctx) {
  const [dataset, item, annotations] = await Promise.all([
    api(`/datasets/${datasetId}`),
    api(`/datasets/${datasetId}/items/${itemId}`),
    api(`/datasets/${datasetId}/items/${itemId}/annotations`),
  ]);
  const classes = dataset.label_classes?.length ? dataset.label_classes : Object.keys(dataset.label_counts || {});
  const state = { boxes: annotations.boxes || [], version: annotations.version, dirty: false };
  const canEdit = ctx.can("labeler");
  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>${item.filename}</h1>
      <div class="detail">
        <div>
          <div class="stage" id="stage">
            ${item.download_url ? html`<img id="image" src="${item.download_url}" alt="${item.filename}">` : html`<p class="muted">No image (the upload is not complete).</p>`}
            <svg id="boxes" aria-label="Annotations" role="img"></svg>
          </div>
          ${canEdit ? html`<p class="muted">Drag on the image to draw a box with the chosen class; select a box in the list to remove it.</p>` : ""}
        </div>
        <aside class="card">
          <dl class="meta">
            <dt>Status</dt><dd>${item.status}</dd>
            <dt>Type</dt><dd>${item.content_type}</dd>
            <dt>Size</dt><dd>${formatBytes(item.size)}${item.preview?.width ? ` · ${item.preview.width}×${item.preview.height}` : ""}</dd>
            <dt>Added</dt><dd>${item.created_by} · ${item.created_at?.slice(0, 19).replace("T", " ")}</dd>
            <dt>Tags</dt><dd>${Object.keys(item.tags || {}).length ? Object.entries(item.tags).map(([k, v]) => html`<span class="chip">${k}=${v}</span> `) : "none"}</dd>
          </dl>
          <h2>Label</h2>
          ${canEdit
            ? html`<label>Class <select id="label"><option value="">(none)</option>
                ${classes.map((c) => html`<option ${c === item.label ? "selected" : ""}>${c}</option>`)}</select></label>`
            : html`<p>${item.label ?? "unlabelled"}</p>`}
          <h2>Boxes</h2>
          ${canEdit
            ? html`<label>Class for new boxes <select id="box-class">${classes.map((c) => html`<option>${c}</option>`)}</select></label>`
            : ""}
          <ul id="box-list"></ul>
          ${canEdit ? html`<button class="primary" type="button" id="save-boxes" disabled>Save boxes</button> <span id="box-state" class="save-state" aria-live="polite"></span>` : ""}
          <p><a href="${`#/datasets/${datasetId}/label`}">Label this dataset one by one</a></p>
        </aside>
      </div>`,
  );
  const image = root.querySelector("#image");
  const svg = root.querySelector("#boxes");
  const list = root.querySelector("#box-list");

  function drawBoxes() {
    const w = image?.naturalWidth || 1;
    const h = image?.naturalHeight || 1;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.replaceChildren(
      ...state.boxes.flatMap((b) => {
        const rect = document.createElementNS(SVG, "rect");
        for (const [k, v] of Object.entries({ x: b.x, y: b.y, width: b.w, height: b.h })) rect.setAttribute(k, v);
        rect.style.stroke = colorOf(b.label, classes);
        const text = document.createElementNS(SVG, "text");
        text.setAttribute("x", b.x + 2);
        text.setAttribute("y", b.y + 12 * (h / Math.max(1, svg.clientHeight)));
        text.setAttribute("font-size", 12 * (h / Math.max(1, svg.clientHeight)));
        text.textContent = b.label;
        return [rect, text];
      }),
    );
    mount(
      list,
      state.boxes.map(
        (b, i) => html`<li>${b.label} at ${Math.round(b.x)},${Math.round(b.y)} (${Math.round(b.w)}×${Math.round(b.h)})
          ${canEdit ? html`<button type="button" data-remove="${i}" aria-label="${`Remove box ${i + 1} (${b.label})`}">Remove</button>` : ""}</li>`,
      ),
    );
    if (!state.boxes.length) list.innerHTML = "<li class='muted'>none</li>";
    const save = root.querySelector("#save-boxes");
    if (save) save.disabled = !state.dirty;
  }
  if (image) {
    if (image.complete) drawBoxes();
    image.addEventListener("load", drawBoxes);
  } else drawBoxes();

  if (!canEdit) return;
  root.querySelector("#label").addEventListener("change", async (event) => {
    try {
      await api(`/datasets/${datasetId}/items/${itemId}/label`, { method: "PUT", body: { label: event.target.value || null } });
      ctx.toast("Label saved");
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  list.addEventListener("click", (event) => {
    const i = event.target.dataset.remove;
    if (i === undefined) return;
    state.boxes.splice(Number(i), 1);
    state.dirty = true;
    drawBoxes();
  });
  // Drawing: pointer positions mapped from the displayed size to the image's own pixels.
  let start = null;
  let ghost = null;
  function point(event) {
    const r = svg.getBoundingClientRect();
    return {
      x: ((event.clientX - r.left) / r.width) * image.naturalWidth,
      y: ((event.clientY - r.top) / r.height) * image.naturalHeight,
    };
  }
  svg.addEventListener("pointerdown", (event) => {
    if (!image) return;
    start = point(event);
    svg.setPointerCapture(event.pointerId);
    ghost = document.createElementNS(SVG, "rect");
    svg.append(ghost);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!start) return;
    const p = point(event);
    for (const [k, v] of Object.entries({ x: Math.min(p.x, start.x), y: Math.min(p.y, start.y), width: Math.abs(p.x - start.x), height: Math.abs(p.y - start.y) }))
      ghost.setAttribute(k, v);
  });
  svg.addEventListener("pointerup", (event) => {
    if (!start) return;
    const p = point(event);
    const box = {
      label: root.querySelector("#box-class").value,
      x: Math.max(0, Math.min(p.x, start.x)),
      y: Math.max(0, Math.min(p.y, start.y)),
      w: Math.abs(p.x - start.x),
      h: Math.abs(p.y - start.y),
    };
    start = null;
    if (box.w >= 2 && box.h >= 2 && box.label) {
      state.boxes.push(box);
      state.dirty = true;
    }
    drawBoxes();
  });
  root.querySelector("#save-boxes").addEventListener("click", async () => {
    const badge = root.querySelector("#box-state");
    try {
      const saved = await api(`/datasets/${datasetId}/items/${itemId}/annotations`, {
        method: "PUT",
        body: { boxes: state.boxes, version: state.version },
      });
      state.version = saved.version;
      state.dirty = false;
      badge.textContent = "Saved";
      badge.className = "save-state ok";
    } catch (error) {
      badge.textContent = `Not saved: ${error.message}`;
      badge.className = "save-state error";
    }
    drawBoxes();
  });
}
