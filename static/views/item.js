// One item: the image with its boxes (zoom and pan; labelers draw, move, resize and delete boxes),
// every model's prediction, the label and who set it, previous/next within the grid's list, the
// items most like it (by an embedding model). A save refused because someone saved first (409)
// keeps the unsaved boxes and offers to re-apply them on the other person's version.

import { api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatBytes, formatNumber, html, mount } from "../lib/html.js";
import { describe, recall } from "../lib/listing.js";
import { margin, modelNames, score, sourceText } from "../lib/predictions.js";
import { boxEditor, reapply } from "../parts/box-editor.js";
import { itemDelete, itemTags } from "../parts/item-edit.js";
import { similarStrip } from "../parts/similar-strip.js";
import { viewer } from "../parts/viewer.js";

const clone = (boxes) => boxes.map((b) => ({ label: b.label, x: b.x, y: b.y, w: b.w, h: b.h }));

function loaded(image) {
  if (image.complete && image.naturalWidth) return Promise.resolve(true);
  return new Promise((resolve) => {
    image.addEventListener("load", () => resolve(true), { once: true });
    image.addEventListener("error", () => resolve(false), { once: true });
  });
}

export async function render(root, { datasetId, itemId }, ctx) {
  const [dataset, item, annotations] = await Promise.all([
    api(`/datasets/${datasetId}`),
    api(`/datasets/${datasetId}/items/${itemId}`),
    api(`/datasets/${datasetId}/items/${itemId}/annotations`),
  ]);
  const classes = dataset.label_classes?.length ? dataset.label_classes : Object.keys(dataset.label_counts || {});
  const names = modelNames(dataset);
  for (const p of item.predictions || []) if (p.model_name) names[p.model_id] ??= p.model_name;
  const state = { base: clone(annotations.boxes || []), version: annotations.version, dirty: false, conflict: null };
  const canEdit = ctx.can("labeler");
  const list = recall(datasetId);
  const predictions = item.predictions || [];

  mount(
    root,
    html`<p><a id="back-link" href="${`#/datasets/${datasetId}${list.params && Object.keys(list.params).length ? `?${new URLSearchParams(list.params)}` : ""}`}">← ${dataset.name}</a></p>
      <nav class="row item-nav" aria-label="Items in this list">
        <button type="button" id="prev-item" disabled aria-keyshortcuts="ArrowLeft">← Previous</button>
        <button type="button" id="next-item" disabled aria-keyshortcuts="ArrowRight">Next →</button>
        <span class="muted" id="item-position" aria-live="polite"></span>
      </nav>
      <h1>${item.filename}</h1>
      <div class="detail">
        <div>
          ${item.download_url && item.content_type.startsWith("image/")
            ? html`<div class="viewer" id="frame" tabindex="0" aria-label="${`Image ${item.filename}: + and − zoom, 0 fits, Shift+arrows pan`}">
                <div class="pan" id="pan"><img id="image" src="${item.download_url}" alt="${item.filename}" draggable="false">
                  <svg id="boxes" aria-label="Annotations" role="img"></svg></div></div>
              <div class="row zoom-row" role="toolbar" aria-label="Zoom">
                <button type="button" id="zoom-out" aria-label="Zoom out">−</button>
                <output id="zoom-level" aria-live="polite">100 %</output>
                <button type="button" id="zoom-in" aria-label="Zoom in">+</button>
                <button type="button" id="zoom-fit">Fit</button>
                ${canEdit
                  ? html`<span class="tool-switch" role="radiogroup" aria-label="Dragging on the image">
                      <label class="inline"><input type="radio" name="tool" value="draw" checked> draws boxes</label>
                      <label class="inline"><input type="radio" name="tool" value="pan"> pans</label></span>`
                  : ""}
              </div>`
            : html`<p class="muted">${item.download_url ? html`Not an image: <a href="${item.download_url}" download>download the file</a>.` : "No image: the upload is not complete."}</p>`}
          ${canEdit
            ? html`<p class="muted">Drag on empty space to draw a box, or press <kbd>B</kbd> (Add box) for one in the middle; drag a box to
                move it, its corners to resize it; arrows move the selected box (<kbd>Shift</kbd>: 10 px, <kbd>Alt</kbd>: resize),
                <kbd>Delete</kbd> removes it. Hold <kbd>Space</kbd> or use the middle button to pan.</p>`
            : html`<p class="muted">Drag to pan, the wheel zooms.</p>`}
        </div>
        <aside class="card">
          <dl class="meta">
            <dt>Status</dt><dd>${item.status}</dd>
            <dt>Type</dt><dd>${item.content_type}</dd>
            <dt>Size</dt><dd>${formatBytes(item.size)}${item.preview?.width ? ` · ${item.preview.width}×${item.preview.height}` : ""}</dd>
            ${item.preview_note ? html`<dt>Preview</dt><dd id="preview-note">${item.preview_note}</dd>` : ""}
            <dt>Added</dt><dd>${item.created_by} · ${item.created_at?.slice(0, 19).replace("T", " ")}</dd>
            <dt>Tags</dt><dd id="tags-holder"></dd>
          </dl>
          <h2>Label</h2>
          ${canEdit
            ? html`<label>Class <select id="label"><option value="">(none)</option>
                ${classes.map((c) => html`<option ${c === item.label ? "selected" : ""}>${c}</option>`)}</select></label>`
            : html`<p>${item.label ?? "unlabelled"}</p>`}
          <p class="muted" id="label-source"></p>
          <h2>Predictions</h2>
          ${predictions.length
            ? html`<div class="scroll-x"><table id="predictions" class="compact"><thead><tr><th>Model</th><th>Predicted</th>
                <th class="num">Score</th><th class="num">Margin</th></tr></thead><tbody>
                ${predictions.map(
                  (p) => html`<tr class="${p.predicted != null && item.label != null && p.predicted !== item.label ? "disagree-row" : ""}">
                    <td>${names[p.model_id] ?? p.model_name ?? p.model_id}</td>
                    <td><strong style="${`color:${colorOf(p.predicted, classes)}`}">${p.predicted ?? "—"}</strong>
                      ${p.top ? html`<div class="muted">${Object.entries(p.top).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, v]) => `${c} ${score(v)}`).join(" · ")}</div>` : ""}
                      ${canEdit && p.predicted != null
                        ? html`<button type="button" class="small" data-accept="${p.model_id}" aria-label="${`Accept ${p.predicted} from ${names[p.model_id] ?? "the model"}`}">Accept</button>`
                        : ""}</td>
                    <td class="num">${score(p.score)}</td><td class="num">${margin(p.margin)}</td>
                  </tr>`,
                )}</tbody></table></div>`
            : html`<p class="muted">No model has run on this item yet.</p>`}
          <h2>Boxes</h2>
          ${canEdit
            ? html`<div class="row"><label>Class for new boxes <select id="box-class">${classes.map((c) => html`<option>${c}</option>`)}</select></label>
                <button type="button" id="add-box" aria-keyshortcuts="B" ${classes.length ? "" : "disabled"}>Add box</button></div>`
            : ""}
          <ul id="box-list" class="box-list"></ul>
          <div id="conflict" class="conflict" role="alert" hidden></div>
          ${canEdit ? html`<button class="primary" type="button" id="save-boxes" disabled>Save boxes</button> <span id="box-state" class="save-state" aria-live="polite"></span>` : ""}
          ${canEdit ? html`<p><a href="${`#/datasets/${datasetId}/label`}">Label this dataset one by one</a></p>` : ""}
          ${ctx.can("editor") ? html`<p id="delete-holder"></p>` : ""}
        </aside>
      </div>
      <section class="card similar-section" id="similar-holder" aria-label="Similar items"></section>`,
  );
  const $ = (selector) => root.querySelector(selector);
  similarStrip($("#similar-holder"), { datasetId, itemId, classes }); // on its own: the image need not wait
  itemTags($("#tags-holder"), datasetId, item, { canEdit, toast: ctx.toast });
  if ($("#delete-holder")) {
    itemDelete($("#delete-holder"), datasetId, item, { toast: ctx.toast, onDeleted: () => ctx.navigate($("#back-link").getAttribute("href")) });
  }
  const image = $("#image");

  function showSource() {
    const source = item.label_source;
    $("#label-source").textContent = !item.label
      ? ""
      : source?.kind === "model"
        ? `Accepted from ${sourceText(source, names)}`
        : source
          ? `Set by ${source.by}`
          : "Set before sources were recorded";
  }
  showSource();

  // Previous / next in the grid's list (same filter and sort), found in the background.
  let position = list.indexOf(itemId);
  const prevButton = $("#prev-item");
  const nextButton = $("#next-item");
  async function placeInList() {
    if (position < 0) {
      $("#item-position").textContent = "Finding this item in the list…";
      try {
        position = await list.find(itemId, 10);
      } catch {
        position = -1;
      }
    }
    if (position < 0) {
      $("#item-position").textContent = "Not in the current list: open items from the grid to go through them.";
      return;
    }
    const words = describe(list.params, names);
    $("#item-position").textContent = `Item ${formatNumber(position + 1)} of ${formatNumber(list.total ?? list.items.length)}${list.total == null && list.more ? "+" : ""}${words ? ` · ${words}` : ""}`;
    prevButton.disabled = position === 0;
    nextButton.disabled = position >= list.items.length - 1 && !list.more;
  }
  placeInList();

  async function go(step) {
    if (position < 0) return;
    if (state.dirty && !confirm("Your boxes are not saved. Leave this item without saving them?")) return;
    const target = position + step;
    if (target < 0) return;
    if (!(await list.ensure(target).catch(() => false))) {
      nextButton.disabled = true;
      return;
    }
    state.dirty = false;
    ctx.navigate(`#/datasets/${datasetId}/items/${list.items[target].id}`);
  }
  prevButton.addEventListener("click", () => go(-1));
  nextButton.addEventListener("click", () => go(1));

  // The image, zoomable, with its boxes.
  let view = null;
  let boxes = null;
  const list$ = $("#box-list");
  const save = $("#save-boxes");
  let space = false;

  function showBoxes() {
    const shown = boxes ? boxes.editor.boxes : state.base;
    const selected = boxes ? boxes.editor.selected : -1;
    mount(
      list$,
      shown.map(
        (b, i) => html`<li class="${i === selected ? "selected" : ""}">
          ${canEdit
            ? html`<select data-relabel="${i}" aria-label="${`Class of box ${i + 1}`}">${classes.map((c) => html`<option ${c === b.label ? "selected" : ""}>${c}</option>`)}</select>`
            : html`<strong>${b.label}</strong>`}
          <span>at ${Math.round(b.x)},${Math.round(b.y)} (${Math.round(b.w)}×${Math.round(b.h)})</span>
          ${canEdit
            ? html`<button type="button" data-select="${i}" aria-pressed="${i === selected}" aria-label="${`Select box ${i + 1} (${b.label})`}">Select</button>
              <button type="button" data-remove="${i}" aria-label="${`Remove box ${i + 1} (${b.label})`}">Remove</button>`
            : ""}</li>`,
      ),
    );
    if (!shown.length) list$.innerHTML = "<li class='muted'>none</li>";
    if (save) save.disabled = !state.dirty;
  }

  function addBox() {
    const label = $("#box-class")?.value;
    if (!boxes || !label) return;
    boxes.add(label);
    $("#box-state").textContent = "Box added: arrows move it, Alt+arrows resize it, Delete removes it.";
  }

  function onKey(event) {
    if (!prevButton.isConnected) return cleanup(); // the page moved on while this one was still loading
    if (event.key === " ") {
      // Space held pans (as in drawing programs); on a control it keeps its own meaning.
      const onControl = event.target.matches?.("button, input, select, textarea, a");
      space = event.type === "keydown" && !onControl;
      if (space) event.preventDefault();
      return;
    }
    if (event.type !== "keydown" || event.target.matches("input:not([type=radio]), select, textarea")) return;
    if (boxes?.key(event) || view?.key(event)) return event.preventDefault();
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key.toLowerCase() === "b" && boxes && canEdit) {
      addBox();
      return event.preventDefault();
    }
    if (event.key === "ArrowLeft" && !prevButton.disabled) go(-1);
    else if (event.key === "ArrowRight" && !nextButton.disabled) go(1);
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", onKey);
  const beforeUnload = (event) => {
    if (state.dirty) event.preventDefault();
  };
  window.addEventListener("beforeunload", beforeUnload);
  const cleanup = () => {
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("keyup", onKey);
    window.removeEventListener("beforeunload", beforeUnload);
    view?.destroy();
  };
  if (image && (await loaded(image))) {
    const frame = $("#frame");
    view = viewer(frame, $("#pan"), {
      width: image.naturalWidth,
      height: image.naturalHeight,
      onChange: (zoom) => {
        $("#zoom-level").textContent = `${Math.round(zoom * 100)} %`;
        boxes?.draw(); // handles and labels keep their size on screen
      },
    });
    boxes = boxEditor($("#boxes"), {
      width: image.naturalWidth,
      height: image.naturalHeight,
      classes,
      editable: canEdit,
      scale: view.scale,
      newLabel: () => $("#box-class")?.value,
      onChange: () => {
        state.dirty = true;
        showBoxes();
      },
      onSelect: () => showBoxes(),
    });
    boxes.set(state.base);
    $("#add-box")?.addEventListener("click", addBox);
    $("#boxes").addEventListener("pointerdown", (event) => {
      const panTool = root.querySelector("input[name=tool]:checked")?.value === "pan";
      if (event.button === 1 || space || panTool || !boxes.down(event)) {
        event.preventDefault();
        view.startPan(event);
      }
    });
    $("#zoom-in").addEventListener("click", view.zoomIn);
    $("#zoom-out").addEventListener("click", view.zoomOut);
    $("#zoom-fit").addEventListener("click", view.fit);
  } else if (image) {
    $("#frame").replaceWith(Object.assign(document.createElement("p"), { className: "error", textContent: "The image could not be loaded." }));
  }
  showBoxes();

  if (!canEdit) return cleanup;

  $("#label").addEventListener("change", async (event) => {
    const label = event.target.value || null;
    try {
      await api(`/datasets/${datasetId}/items/${itemId}/label`, { method: "PUT", body: { label } });
      Object.assign(item, { label, label_source: label ? { kind: "person", by: ctx.me.user } : null });
      list.update({ id: itemId, label: item.label, label_source: item.label_source });
      showSource();
      ctx.toast("Label saved");
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  $("#predictions")?.addEventListener("click", async (event) => {
    const modelId = event.target.dataset.accept;
    if (!modelId) return;
    try {
      const answer = await api(`/datasets/${datasetId}/predictions/accept`, {
        method: "POST",
        body: { model_id: modelId, item_ids: [itemId], overwrite: true },
      });
      if (!answer.labelled) throw new Error("the model's label was not applied");
      const predicted = predictions.find((p) => p.model_id === modelId).predicted;
      Object.assign(item, { label: predicted, label_source: { kind: "model", by: modelId } });
      list.update({ id: itemId, label: item.label, label_source: item.label_source });
      $("#label").value = predicted;
      showSource();
      ctx.toast(`Label ${predicted} accepted from ${names[modelId] ?? "the model"}`);
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  list$.addEventListener("click", (event) => {
    const { remove, select } = event.target.dataset;
    if (remove !== undefined) boxes?.remove(Number(remove));
    else if (select !== undefined) boxes?.select(boxes.editor.selected === Number(select) ? -1 : Number(select));
  });
  list$.addEventListener("change", (event) => {
    const i = event.target.dataset.relabel;
    if (i !== undefined) boxes?.relabel(Number(i), event.target.value);
  });

  // Saving: a stale version is refused (409); the unsaved boxes stay, and can be re-applied.
  const badge = $("#box-state");
  const conflict = $("#conflict");
  function showConflict() {
    const c = state.conflict;
    conflict.hidden = !c;
    if (!c) return;
    mount(
      conflict,
      html`<p><strong>Someone else saved boxes on this item first</strong> (${c.theirs.length} boxes, version ${c.version}).
        Your ${formatNumber(boxes.editor.boxes.length)} boxes are kept here, not saved.</p>
        <div class="row"><button class="primary" type="button" id="reapply">Re-apply my boxes</button>
          <button type="button" id="take-theirs">Drop mine, show theirs</button></div>`,
    );
    conflict.querySelector("#reapply").addEventListener("click", () => {
      boxes.set(reapply(state.base, boxes.editor.boxes, c.theirs));
      Object.assign(state, { base: clone(c.theirs), version: c.version, conflict: null, dirty: true });
      badge.textContent = "Your changes are applied on their version: check them, then save.";
      badge.className = "save-state";
      showConflict();
      showBoxes();
      save.focus();
    });
    conflict.querySelector("#take-theirs").addEventListener("click", () => {
      boxes.set(c.theirs);
      Object.assign(state, { base: clone(c.theirs), version: c.version, conflict: null, dirty: false });
      badge.textContent = "";
      showConflict();
      showBoxes();
    });
  }
  save.addEventListener("click", async () => {
    const mine = clone(boxes.editor.boxes);
    save.disabled = true;
    badge.textContent = "Saving…";
    badge.className = "save-state";
    try {
      const saved = await api(`/datasets/${datasetId}/items/${itemId}/annotations`, {
        method: "PUT",
        body: { boxes: mine, version: state.version },
      });
      Object.assign(state, { base: mine, version: saved.version, dirty: false, conflict: null });
      badge.textContent = "Saved";
      badge.className = "save-state ok";
    } catch (error) {
      if (error.status === 409) {
        try {
          const fresh = await api(`/datasets/${datasetId}/items/${itemId}/annotations`);
          state.conflict = { theirs: clone(fresh.boxes || []), version: fresh.version };
          badge.textContent = "Not saved: someone else saved first.";
        } catch (again) {
          badge.textContent = `Not saved: ${again.message}`;
        }
      } else badge.textContent = `Not saved: ${error.message}`;
      badge.className = "save-state error";
    }
    showConflict();
    showBoxes();
  });
  return cleanup;
}
