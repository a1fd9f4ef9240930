// One dataset: a virtual thumbnail grid (only visible cells exist in the DOM; pages load as you
// scroll), filters and sorts (name, date, label, size, a model's predictions) with the exact number
// of matches, a prediction badge per cell, selection with bulk labelling and deleting, bulk changes
// of every match on the server, bulk acceptance of predictions, label classes, the labelling keys,
// exports, and uploads;
// with embeddings, "find similar" from each cell or from an image, and links to duplicates and the map.

import { api, query } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatBytes, formatNumber, html, mount } from "../lib/html.js";
import { moveFrom } from "../lib/grid-keys.js";
import { ItemList, remember } from "../lib/listing.js";
import { disagrees, modelOptions, modelsOf, predictionOf, score } from "../lib/predictions.js";
import { thumbnail } from "../lib/preview.js";
import { embeddingsOf } from "../lib/similar.js";
import { bulkAccept } from "../parts/bulk-accept.js";
import { bulkByQuery } from "../parts/bulk-by-query.js";
import { deleteSelected } from "../parts/delete-selected.js";
import { exportMenu } from "../parts/export-menu.js";
import { findSimilar } from "../parts/find-similar.js";
import { hotkeyEditor } from "../parts/hotkey-editor.js";
import { labelClasses } from "../parts/label-classes.js";
import { uploads } from "../parts/uploads.js";

const CELL_W = 156; // the narrowest a cell gets; columns widen to fill the row
const CELL_H = 198;
const PAGE = 300;
const BULK_CHUNK = 1000;
const SORTS = [
  ["", "upload order"],
  ["name", "file name, A to Z"],
  ["-name", "file name, Z to A"],
  ["-created_at", "newest first"],
  ["created_at", "oldest first"],
  ["label", "label, A to Z"],
  ["-label", "label, Z to A"],
  ["size", "smallest first"],
  ["-size", "largest first"],
  ["margin", "least certain first"],
  ["score", "score, lowest first"],
  ["-score", "score, highest first"],
  ["mistake", "likeliest mistakes first"],
];
const NEEDS_MODEL = new Set(["margin", "score", "-score"]);
const FILTERS = ["q", "label", "unlabeled", "model", "predicted", "disagrees", "min_score", "max_score", "sort"];
const UPLOAD_SETTLE_MS = 400; // uploads finishing closer together than this refresh the grid once
const ON_ITS_WAY = "thumbnail on its way"; // the API's preview_note while the thumbnail worker has it queued
const PREVIEW_POLL_MS = [1000, 2000, 4000, 8000]; // then every 8 s while visible tiles still wait
const PREVIEW_BATCH = 24;

const summary = (dataset) => [dataset.description, `${formatNumber(dataset.item_count)} items`, formatBytes(dataset.bytes)].filter(Boolean).join(" · ");

export async function render(root, { datasetId, query: asked = {} }, ctx) {
  // Without the embeddings list the page still works: only the similarity tools stay hidden.
  const [dataset, sets] = await Promise.all([api(`/datasets/${datasetId}`), embeddingsOf(datasetId).catch(() => [])]);
  const classes = [...new Set([...(dataset.label_classes || []), ...Object.keys(dataset.label_counts || {})])];
  // A link may name a class or a model this page does not list (yet): it stays chosen all the same.
  for (const c of [asked.label, asked.predicted]) if (c && !classes.includes(c)) classes.push(c);
  if (asked.model && !modelsOf(dataset).some((m) => m.model_id === asked.model)) {
    dataset.predictions = [...modelsOf(dataset), { model_id: asked.model, model_name: asked.model }];
  }
  const models = modelsOf(dataset);
  const initial = { ...asked };
  if (!("model" in asked) && models.length) initial.model = models[0].model_id; // badges show from the start
  const state = { list: new ItemList(datasetId, {}, PAGE), filters: {}, selected: new Set() };
  const option = (value, label, chosen) => html`<option value="${value}" ${value === chosen ? "selected" : ""}>${label}</option>`;
  mount(
    root,
    html`<a class="skip" href="#scroller">Skip to the items</a>
      <h1>${dataset.name}</h1>
      <p class="muted" id="summary">${summary(dataset)}</p>
      <div class="row">
        ${ctx.can("labeler")
          ? html`<a class="button" id="label-link" href="${`#/datasets/${datasetId}/label`}">Label one by one</a>
            <a class="button" id="review-link" href="${`#/datasets/${datasetId}/review`}">Review likely mistakes</a>`
          : ""}
        <span id="export-holder"></span>
        <a class="button" id="duplicates-link" href="${`#/datasets/${datasetId}/duplicates`}">Near-duplicates</a>
        <a class="button" id="map-link" href="${`#/datasets/${datasetId}/map`}">Map</a>
      </div>
      ${ctx.can("editor")
        ? html`<section class="card" aria-labelledby="upload-title"><h2 id="upload-title">Upload</h2>
            <div class="dropzone" id="dropzone">Drop files here, or
              <label class="inline"><span class="sr">Choose files</span><input type="file" id="files" multiple accept="image/*,*/*"></label></div>
            <ul class="uploads" id="uploads" aria-label="Uploads"></ul></section>`
        : ""}
      <div class="tools">${ctx.can("editor") ? html`<div id="classes-holder"></div>` : ""}<div id="hotkeys-holder"></div>${ctx.can("labeler") ? html`<div id="accept-holder"></div>` : ""}<div id="find-holder"></div></div>
      <form class="row" id="filters" role="search">
        <label>Search <input type="search" name="q" placeholder="file name, label, tag" value="${initial.q ?? ""}"></label>
        <label>Label <select name="label"><option value="">any</option>${classes.map((c) => option(c, c, initial.label))}</select></label>
        <label class="inline"><input type="checkbox" name="unlabeled" ${initial.unlabeled === "true" ? "checked" : ""}> Unlabelled only</label>
        ${models.length
          ? html`<label>Model <select name="model">${modelOptions(dataset, initial.model)}</select></label>
            <fieldset class="inline-fields" id="model-filters"><legend class="sr">Filters on the model's predictions</legend>
              <label>Predicted <select name="predicted"><option value="">any</option>${classes.map((c) => option(c, c, initial.predicted))}</select></label>
              <label class="inline"><input type="checkbox" name="disagrees" ${initial.disagrees === "true" ? "checked" : ""}> Disagrees with the label</label>
              <label>Score from <input type="number" name="min_score" min="0" max="1" step="0.05" inputmode="decimal" value="${initial.min_score ?? ""}"></label>
              <label>to <input type="number" name="max_score" min="0" max="1" step="0.05" inputmode="decimal" value="${initial.max_score ?? ""}"></label>
            </fieldset>`
          : ""}
        <label>Sort <select name="sort">${SORTS.filter(([v]) => models.length || (!NEEDS_MODEL.has(v) && v !== "mistake")).map(([v, l]) => option(v, l, initial.sort ?? ""))}</select></label>
        <span class="muted" id="count" aria-live="polite"></span>
        <p class="error" id="filter-error" role="alert"></p>
      </form>
      ${models.length ? "" : html`<p class="muted">Run a model on this dataset (Jobs) to see its predictions here and filter by them.</p>`}
      ${ctx.can("labeler")
        ? html`<div class="row" id="bulk">
            <button type="button" id="select-all">Select all shown</button>
            <span id="select-matches-holder"></span>
            <button type="button" id="select-none">Clear selection</button>
            <label>Label for the selection <select id="bulk-label"><option value="">choose…</option>
              ${classes.map((c) => html`<option>${c}</option>`)}<option value="__none__">(remove label)</option></select></label>
            <button class="primary" type="button" id="bulk-apply" disabled>Apply to 0 selected</button>
            ${ctx.can("editor") ? html`<span id="delete-selected-holder"></span>` : ""}
          </div>
          <div id="bulk-bar-holder"></div>`
        : ""}
      <p class="muted grid-help" id="grid-help">Arrow keys move between items, <kbd>Enter</kbd> opens one${ctx.can("labeler") ? html`, <kbd>Space</kbd> selects it (<kbd>Shift</kbd>+arrows: a range)` : ""}.</p>
      <div class="grid-scroller" id="scroller" role="grid" aria-label="Items" aria-describedby="grid-help" tabindex="-1" data-skip-target
        ${ctx.can("labeler") ? html`aria-multiselectable="true"` : ""}><div class="grid-canvas" id="canvas"></div></div>`,
  );
  const scroller = root.querySelector("#scroller");
  const canvas = root.querySelector("#canvas");
  const count = root.querySelector("#count");
  const filters = root.querySelector("#filters");

  function columns() {
    return Math.max(1, Math.floor(scroller.clientWidth / CELL_W));
  }

  // Cells on screen, by item position: scrolling only adds the cells coming into view and drops
  // those leaving it, so an image is never made twice while it stays on screen. Each screen row is a
  // `row` of the ARIA grid; the grid is one tab stop, the active cell (roving tabindex).
  const cells = new Map();
  const rows = new Map();
  let shape = "";
  let active = 0;

  function cellFor(item, i, cols, width) {
    const selected = state.selected.has(item.id);
    const prediction = predictionOf(item, state.filters.model);
    const differs = disagrees(item, prediction);
    const style = `left:${(i % cols) * width + Math.max(0, (width - CELL_W) / 2)}px`;
    const said = [
      item.filename,
      item.label ? `label ${item.label}` : "unlabelled",
      prediction ? `predicted ${prediction.predicted} at ${score(prediction.score)}` : "",
      differs ? "the model disagrees" : "",
    ];
    const holder = document.createElement("div");
    mount(
      holder,
      html`<div class="${`cell${differs ? " disagree" : ""}`}" role="gridcell" style="${style}" aria-selected="${selected}"
        data-id="${item.id}" data-index="${i}" aria-colindex="${(i % cols) + 1}" tabindex="${i === active ? 0 : -1}"
        aria-label="${said.filter(Boolean).join(", ")}">
        <a href="${`#/datasets/${datasetId}/items/${item.id}`}" tabindex="-1" aria-hidden="true">
          ${thumbnail(item)}
          ${prediction
            ? html`<span class="badge" aria-hidden="true" style="${`border-color:${colorOf(prediction.predicted, dataset.label_classes)}`}">${prediction.predicted} · ${score(prediction.score)}</span>`
            : ""}
          ${differs ? html`<span class="disagree-mark" aria-hidden="true" title="The model disagrees with the label">≠</span>` : ""}
          <div class="caption">${item.filename}</div>
          <div class="caption" style="${`color:${item.label ? colorOf(item.label, dataset.label_classes) : "var(--muted)"}`}">
            ${item.label ?? (item.status === "pending" ? "uploading…" : "unlabelled")}</div>
        </a>
        ${ctx.can("labeler") ? html`<input type="checkbox" tabindex="-1" aria-label="${`Select ${item.filename}`}" ${selected ? "checked" : ""} data-select="${item.id}">` : ""}
        ${sets.length
          ? html`<a class="similar-link" href="${`#/datasets/${datasetId}/similar/${item.id}`}" title="Find similar items (key S)"
              tabindex="-1" aria-label="${`Find items similar to ${item.filename}`}">≈</a>`
          : ""}
      </div>`,
    );
    return holder.firstElementChild;
  }

  function release(cell) {
    cell.querySelector("img")?.removeAttribute("src"); // stops a thumbnail still on its way
    const row = cell.parentElement;
    cell.remove();
    if (row && !row.childElementCount) {
      rows.delete(Number(row.dataset.row));
      row.remove();
    }
  }

  function rowFor(r) {
    let row = rows.get(r);
    if (!row) {
      row = Object.assign(document.createElement("div"), { className: "grid-row" });
      row.setAttribute("role", "row");
      row.setAttribute("aria-rowindex", String(r + 1));
      row.dataset.row = String(r);
      row.style.top = `${r * CELL_H}px`;
      rows.set(r, row);
      canvas.append(row);
    }
    return row;
  }

  function draw(rebuild = false) {
    const items = state.list.items;
    const cols = columns();
    const width = Math.floor(scroller.clientWidth / cols);
    if (rebuild || shape !== `${cols}:${width}`) {
      for (const cell of cells.values()) release(cell);
      cells.clear();
      shape = `${cols}:${width}`;
    }
    const rowCount = Math.ceil(items.length / cols) + (state.list.more ? 1 : 0);
    canvas.style.height = `${rowCount * CELL_H}px`;
    scroller.setAttribute("aria-rowcount", String(state.list.more ? -1 : Math.ceil(items.length / cols)));
    scroller.setAttribute("aria-colcount", String(cols));
    active = Math.min(active, Math.max(0, items.length - 1));
    const first = Math.max(0, Math.floor(scroller.scrollTop / CELL_H) - 2);
    const last = Math.ceil((scroller.scrollTop + scroller.clientHeight) / CELL_H) + 2;
    const from = first * cols;
    const to = Math.min(items.length, last * cols);
    for (const [i, cell] of cells) {
      // the focused cell stays while it is focused: keys keep reaching the grid after a scroll
      if ((i < from || i >= to) && !(i === active && cell.contains(document.activeElement))) {
        release(cell);
        cells.delete(i);
      }
    }
    for (let i = from; i < to; i += 1) {
      if (cells.has(i)) continue;
      const cell = cellFor(items[i], i, cols, width);
      cells.set(i, cell);
      rowFor(Math.floor(i / cols)).append(cell);
    }
    if (state.list.more && (last + 4) * cols >= items.length) loadMore();
    followPreviews();
  }

  // Visible tiles whose thumbnail is on its way are read again, less often as time passes, and fill in
  // when it exists (an import or a batch of uploads leaves the thumbnail worker behind the listing).
  let previewTimer = 0;
  let previewRound = 0;
  function followPreviews() {
    if (previewTimer) return;
    const waiting = () => [...cells.values()].filter((cell) => cell.querySelector(".placeholder .note")?.textContent === ON_ITS_WAY);
    if (!waiting().length) {
      previewRound = 0;
      return;
    }
    const delay = PREVIEW_POLL_MS[Math.min(previewRound, PREVIEW_POLL_MS.length - 1)];
    previewTimer = setTimeout(async () => {
      const ids = waiting().slice(0, PREVIEW_BATCH).map((cell) => cell.dataset.id);
      const fresh = await Promise.all(ids.map((id) => api(`/datasets/${datasetId}/items/${id}`).catch(() => null)));
      let filled = false;
      for (const item of fresh) {
        if (!item || item.preview_note === ON_ITS_WAY) continue;
        state.list.update(item);
        const i = state.list.indexOf(item.id);
        const cell = cells.get(i);
        const placeholder = cell?.querySelector(".placeholder");
        if (placeholder) {
          placeholder.replaceWith(mount(document.createElement("span"), thumbnail(state.list.items[i])).firstElementChild);
          filled = true;
        }
      }
      previewRound = filled ? 0 : previewRound + 1;
      previewTimer = 0;
      followPreviews();
    }, delay);
  }

  // Thumbnail URLs expire: a thumbnail refused after a while gets a freshly signed URL, once.
  canvas.addEventListener(
    "error",
    async (event) => {
      const img = event.target;
      if (img.tagName !== "IMG" || !img.getAttribute("src") || img.dataset.renewed) return;
      img.dataset.renewed = "1";
      const id = img.closest(".cell")?.dataset.id;
      try {
        const fresh = await api(`/datasets/${datasetId}/items/${id}`);
        state.list.update({ id, thumbnail_url: fresh.thumbnail_url });
        if (fresh.thumbnail_url && img.isConnected) img.src = fresh.thumbnail_url;
      } catch {
        // the cell keeps its empty frame; the item page still works
      }
    },
    true,
  );

  async function loadMore() {
    const list = state.list;
    if (list.loading || !list.more) return;
    try {
      await list.loadMore();
    } catch (error) {
      list.more = false;
      ctx.toast(error.message, "error");
    }
    if (list !== state.list) return; // the filters changed meanwhile
    showCount();
    draw();
  }

  function showCount() {
    const total = state.list.total;
    count.textContent =
      total == null
        ? `${formatNumber(state.list.items.length)}${state.list.more ? "+" : ""} shown`
        : total === 0
          ? "No items match: change or clear the filters."
          : `${formatNumber(total)} ${total === 1 ? "item matches" : "items match"}`;
  }

  // The exact number of matches (the listing's filters, no sort), kept on the list it counts.
  async function countMatches(list) {
    const { sort, ...filters } = list.params;
    try {
      list.total = (await api(`/datasets/${datasetId}/items/count${query(filters)}`)).count;
    } catch (error) {
      list.total = null;
      ctx.toast(error.message, "error");
    }
    if (list !== state.list) return;
    showCount();
    matches?.setTotal(list.total);
  }

  function reset() {
    state.list = new ItemList(datasetId, state.filters, PAGE);
    remember(state.list);
    matches?.setTotal(null);
    countMatches(state.list);
    scroller.scrollTop = 0;
    draw(true);
  }

  async function refreshHeader() {
    try {
      Object.assign(dataset, await api(`/datasets/${datasetId}`));
      root.querySelector("#summary").textContent = summary(dataset);
    } catch {
      // the header keeps its last figures; the grid and its count are current
    }
  }

  // After items changed (uploads, deletes, bulk runs): the listing, its count and the header read again.
  function refresh() {
    reset();
    refreshHeader();
  }

  function updateBulk() {
    const apply = root.querySelector("#bulk-apply");
    if (!apply) return;
    apply.textContent = `Apply to ${formatNumber(state.selected.size)} selected`;
    apply.disabled = !state.selected.size || !root.querySelector("#bulk-label").value;
    deleter?.update(state.selected.size);
  }

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => draw());
  });
  const resize = new ResizeObserver(() => draw());
  resize.observe(scroller);

  // The grid's keys (lib/grid-keys.js): the active cell moves, scrolled into view and focused; Enter
  // opens it, Space selects it (Shift+arrows a range), S finds similar items.
  function focusCell(i) {
    active = i;
    const top = Math.floor(i / columns()) * CELL_H;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + CELL_H > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + CELL_H - scroller.clientHeight;
    draw();
    for (const [n, cell] of cells) cell.tabIndex = n === active ? 0 : -1;
    cells.get(active)?.focus();
  }

  function choose(i, on) {
    const item = state.list.items[i];
    if (!item) return;
    if (on) state.selected.add(item.id);
    else state.selected.delete(item.id);
    const cell = cells.get(i);
    if (cell) {
      cell.setAttribute("aria-selected", String(on));
      cell.querySelector("[data-select]").checked = on;
    }
    updateBulk();
  }

  const labeler = ctx.can("labeler");
  canvas.addEventListener("keydown", (event) => {
    const cell = event.target.closest?.(".cell");
    if (!cell || event.altKey) return;
    const i = Number(cell.dataset.index);
    const item = state.list.items[i];
    if (event.key === "Enter") {
      event.preventDefault();
      location.hash = `#/datasets/${datasetId}/items/${item.id}`;
    } else if (event.key === " " && labeler) {
      event.preventDefault();
      choose(i, !state.selected.has(item.id));
    } else if (event.key.toLowerCase() === "s" && sets.length && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      location.hash = `#/datasets/${datasetId}/similar/${item.id}`;
    } else {
      const pageRows = Math.max(1, Math.floor(scroller.clientHeight / CELL_H));
      const ctrl = event.ctrlKey || event.metaKey;
      const next = moveFrom(i, event.key, { cols: columns(), count: state.list.items.length, pageRows, ctrl });
      if (next === null) return;
      event.preventDefault();
      if (event.shiftKey && labeler) {
        const [lo, hi] = next > i ? [i, next] : [next, i];
        for (let n = lo; n <= hi; n += 1) choose(n, true);
      }
      focusCell(next);
    }
  });
  // A click (or the skip link) lands on the grid: the cell clicked, or the active one, becomes the tab stop.
  canvas.addEventListener("focusin", (event) => {
    const cell = event.target.closest?.(".cell");
    if (!cell || Number(cell.dataset.index) === active) return;
    active = Number(cell.dataset.index);
    for (const [n, c] of cells) c.tabIndex = n === active ? 0 : -1;
  });
  scroller.addEventListener("focus", () => focusCell(active));

  // The filters: read from the form, checked, kept in the address (so back from an item returns here).
  let typing = 0;
  function readFilters() {
    const value = (name) => filters.elements[name]?.value?.trim() ?? "";
    const checked = (name) => (filters.elements[name]?.checked ? "true" : "");
    const model = value("model");
    const byModel = model ? { predicted: value("predicted"), disagrees: checked("disagrees"), min_score: value("min_score"), max_score: value("max_score") } : {};
    const next = { q: value("q"), label: value("label"), unlabeled: checked("unlabeled"), model, ...byModel, sort: value("sort") };
    const fieldset = root.querySelector("#model-filters");
    if (fieldset) fieldset.disabled = !model;
    const problem = root.querySelector("#filter-error");
    const [lo, hi] = [next.min_score, next.max_score].map((v) => (v === "" || v === undefined ? null : Number(v)));
    problem.textContent =
      NEEDS_MODEL.has(next.sort) && !model
        ? "Choose a model to sort by its scores."
        : [lo, hi].some((v) => v !== null && !(v >= 0 && v <= 1))
          ? "Scores are between 0 and 1."
          : lo !== null && hi !== null && lo > hi
            ? "The lowest score is above the highest."
            : "";
    if (problem.textContent) return;
    state.filters = Object.fromEntries(FILTERS.map((k) => [k, next[k]]).filter(([, v]) => v));
    const search = new URLSearchParams(state.filters).toString();
    history.replaceState(null, "", `#/datasets/${datasetId}${search ? `?${search}` : ""}`);
    const keep = new URLSearchParams(model ? { model } : {}).toString();
    for (const [id, view] of [["#label-link", "label"], ["#review-link", "review"]]) {
      const link = root.querySelector(id);
      if (link) link.href = `#/datasets/${datasetId}/${view}${keep ? `?${keep}` : ""}`;
    }
    reset();
  }
  filters.addEventListener("submit", (event) => event.preventDefault());
  filters.addEventListener("input", (event) => {
    clearTimeout(typing);
    const wait = event.target.type === "search" || event.target.type === "number";
    if (wait) typing = setTimeout(readFilters, 300);
  });
  filters.addEventListener("change", (event) => {
    if (event.target.type === "search" || event.target.type === "number") return;
    readFilters();
  });

  exportMenu(root.querySelector("#export-holder"), dataset, ctx.toast);

  canvas.addEventListener("change", (event) => {
    const id = event.target.dataset.select;
    if (!id) return;
    if (event.target.checked) state.selected.add(id);
    else state.selected.delete(id);
    event.target.closest(".cell").setAttribute("aria-selected", String(event.target.checked));
    updateBulk();
  });
  root.querySelector("#select-all")?.addEventListener("click", () => {
    for (const item of state.list.items) state.selected.add(item.id);
    draw(true);
    updateBulk();
  });
  root.querySelector("#select-none")?.addEventListener("click", () => {
    state.selected.clear();
    draw(true);
    updateBulk();
  });
  root.querySelector("#bulk-label")?.addEventListener("change", updateBulk);
  root.querySelector("#bulk-apply")?.addEventListener("click", async () => {
    const choice = root.querySelector("#bulk-label").value;
    const label = choice === "__none__" ? null : choice;
    const ids = [...state.selected];
    let failed = 0;
    for (let i = 0; i < ids.length; i += BULK_CHUNK) {
      try {
        const answer = await api(`/datasets/${datasetId}/labels`, {
          method: "POST",
          body: { labels: ids.slice(i, i + BULK_CHUNK).map((item_id) => ({ item_id, label })) },
        });
        failed += (answer.results || []).filter((r) => r.status >= 300).length;
      } catch (error) {
        ctx.toast(error.message, "error");
        return;
      }
    }
    ctx.toast(failed ? `${ids.length - failed} labelled, ${failed} failed` : `${ids.length} items labelled “${label ?? "none"}”`, failed ? "error" : "info");
    for (const item of state.list.items) if (state.selected.has(item.id)) Object.assign(item, { label, label_source: null });
    state.selected.clear();
    draw(true);
    updateBulk();
    countMatches(state.list);
    refreshHeader();
  });

  // Bulk changes and deletes start from a clean selection and end on a fresh listing.
  const afterBulk = () => {
    state.selected.clear();
    updateBulk();
    refresh();
  };
  const matchesButton = root.querySelector("#select-matches-holder");
  const matches = matchesButton
    ? bulkByQuery(matchesButton, root.querySelector("#bulk-bar-holder"), dataset, classes, {
        currentFilters: () => state.filters,
        canDelete: ctx.can("editor"),
        onDone: afterBulk,
      })
    : null;
  const deleteHolder = root.querySelector("#delete-selected-holder");
  const deleter = deleteHolder
    ? deleteSelected(deleteHolder, datasetId, { selected: () => [...state.selected], onDone: afterBulk, toast: ctx.toast })
    : null;
  const classesHolder = root.querySelector("#classes-holder");
  if (classesHolder) labelClasses(classesHolder, dataset, { onChanged: () => ctx.navigate(location.hash), toast: ctx.toast });
  hotkeyEditor(root.querySelector("#hotkeys-holder"), dataset, classes, ctx);
  findSimilar(root.querySelector("#find-holder"), dataset, sets, classes);
  const acceptHolder = root.querySelector("#accept-holder");
  if (acceptHolder) {
    bulkAccept(acceptHolder, dataset, {
      currentFilters: () => state.filters,
      chosenModel: () => state.filters.model,
      onDone: reset,
      toast: ctx.toast,
    });
  }
  // New items show where the sort puts them: the listing is read again once a batch of uploads settles.
  let settling = 0;
  uploads(root, datasetId, () => {
    clearTimeout(settling);
    settling = setTimeout(refresh, UPLOAD_SETTLE_MS);
  });

  readFilters();
  return () => {
    resize.disconnect();
    clearTimeout(settling);
    clearTimeout(previewTimer);
  };
}
