// One dataset: a virtual thumbnail grid (only visible cells exist in the DOM; pages load as you
// scroll), filters, selection with bulk labelling, and uploads with a progress bar per file.

import { api, query } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatBytes, formatNumber, html, mount } from "../lib/html.js";
import { uploadFile } from "../lib/upload.js";

const CELL_W = 156; // the narrowest a cell gets; columns widen to fill the row
const CELL_H = 186;
const PAGE = 300;
const BULK_CHUNK = 1000;

export async function render(root, { datasetId }, ctx) {
  const dataset = await api(`/datasets/${datasetId}`);
  const classes = [...new Set([...(dataset.label_classes || []), ...Object.keys(dataset.label_counts || {})])];
  const state = { items: [], cursor: null, more: true, loading: null, filters: {}, selected: new Set(), generation: 0 };
  mount(
    root,
    html`<h1>${dataset.name}</h1>
      <p class="muted">${[dataset.description, `${formatNumber(dataset.item_count)} items`, formatBytes(dataset.bytes)].filter(Boolean).join(" · ")}</p>
      <div class="row">
        <a class="button" href="${`#/datasets/${datasetId}/label`}">Label one by one</a>
        <a class="button" href="${`/api/datasets/${datasetId}/export?format=csv`}" id="export" download>Export CSV</a>
      </div>
      ${ctx.can("editor")
        ? html`<section class="card" aria-labelledby="upload-title"><h2 id="upload-title">Upload</h2>
            <div class="dropzone" id="dropzone">Drop files here, or
              <label class="inline"><span class="sr">Choose files</span><input type="file" id="files" multiple accept="image/*,*/*"></label></div>
            <ul class="uploads" id="uploads" aria-label="Uploads"></ul></section>`
        : ""}
      <form class="row" id="filters" role="search">
        <label>Search <input type="search" name="q" placeholder="file name, label, tag"></label>
        <label>Label <select name="label"><option value="">any</option>${classes.map((c) => html`<option>${c}</option>`)}</select></label>
        <label class="inline"><input type="checkbox" name="unlabeled"> Unlabelled only</label>
        <span class="muted" id="count" aria-live="polite"></span>
      </form>
      ${ctx.can("labeler")
        ? html`<div class="row" id="bulk">
            <button type="button" id="select-all">Select all shown</button>
            <button type="button" id="select-none">Clear selection</button>
            <label>Label for the selection <select id="bulk-label"><option value="">choose…</option>
              ${classes.map((c) => html`<option>${c}</option>`)}<option value="__none__">(remove label)</option></select></label>
            <button class="primary" type="button" id="bulk-apply" disabled>Apply to 0 selected</button>
          </div>`
        : ""}
      <div class="grid-scroller" id="scroller" role="grid" aria-label="Items" tabindex="0"><div class="grid-canvas" id="canvas"></div></div>`,
  );
  const scroller = root.querySelector("#scroller");
  const canvas = root.querySelector("#canvas");
  const count = root.querySelector("#count");
  const exportLink = root.querySelector("#export");

  function columns() {
    return Math.max(1, Math.floor(scroller.clientWidth / CELL_W));
  }

  // Cells on screen, by item position: scrolling only adds the cells coming into view and drops
  // those leaving it, so an image is never made twice while it stays on screen.
  const cells = new Map();
  let shape = "";

  function cellFor(item, i, cols, width) {
    const selected = state.selected.has(item.id);
    const style = `left:${(i % cols) * width + Math.max(0, (width - CELL_W) / 2)}px;top:${Math.floor(i / cols) * CELL_H}px`;
    const holder = document.createElement("div");
    mount(
      holder,
      html`<div class="cell" role="gridcell" style="${style}" aria-selected="${selected}" data-id="${item.id}">
        <a href="${`#/datasets/${datasetId}/items/${item.id}`}" aria-label="${`${item.filename}, ${item.label ? `label ${item.label}` : "unlabelled"}`}">
          ${item.thumbnail_url
            ? html`<img src="${item.thumbnail_url}" alt="" decoding="async">`
            : html`<div class="placeholder" aria-hidden="true"></div>`}
          <div class="caption">${item.filename}</div>
          <div class="caption" style="${`color:${item.label ? colorOf(item.label, dataset.label_classes) : "var(--muted)"}`}">
            ${item.label ?? (item.status === "pending" ? "uploading…" : "unlabelled")}</div>
        </a>
        ${ctx.can("labeler") ? html`<input type="checkbox" aria-label="${`Select ${item.filename}`}" ${selected ? "checked" : ""} data-select="${item.id}">` : ""}
      </div>`,
    );
    return holder.firstElementChild;
  }

  function release(cell) {
    cell.querySelector("img")?.removeAttribute("src"); // stops a thumbnail still on its way
    cell.remove();
  }

  function draw(rebuild = false) {
    const cols = columns();
    const width = Math.floor(scroller.clientWidth / cols);
    if (rebuild || shape !== `${cols}:${width}`) {
      for (const cell of cells.values()) release(cell);
      cells.clear();
      shape = `${cols}:${width}`;
    }
    const rows = Math.ceil(state.items.length / cols) + (state.more ? 1 : 0);
    canvas.style.height = `${rows * CELL_H}px`;
    const first = Math.max(0, Math.floor(scroller.scrollTop / CELL_H) - 2);
    const last = Math.ceil((scroller.scrollTop + scroller.clientHeight) / CELL_H) + 2;
    const from = first * cols;
    const to = Math.min(state.items.length, last * cols);
    for (const [i, cell] of cells) {
      if (i < from || i >= to) {
        release(cell);
        cells.delete(i);
      }
    }
    for (let i = from; i < to; i += 1) {
      if (cells.has(i)) continue;
      const cell = cellFor(state.items[i], i, cols, width);
      cells.set(i, cell);
      canvas.append(cell);
    }
    if (state.more && (last + 4) * cols >= state.items.length) loadMore();
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
        const item = state.items.find((x) => x.id === id);
        if (item) item.thumbnail_url = fresh.thumbnail_url;
        if (fresh.thumbnail_url && img.isConnected) img.src = fresh.thumbnail_url;
      } catch {
        // the cell keeps its empty frame; the item page still works
      }
    },
    true,
  );

  async function loadMore() {
    if (state.loading || !state.more) return state.loading;
    const generation = state.generation;
    state.loading = (async () => {
      try {
        const page = await api(
          `/datasets/${datasetId}/items${query({ ...state.filters, limit: PAGE, cursor: state.cursor })}`,
        );
        if (generation !== state.generation) return;
        state.items.push(...page.items);
        state.cursor = page.next_cursor;
        state.more = Boolean(page.next_cursor);
        showCount();
      } catch (error) {
        state.more = false;
        ctx.toast(error.message, "error");
      } finally {
        state.loading = null;
      }
      draw();
    })();
    return state.loading;
  }

  function showCount() {
    count.textContent = `${formatNumber(state.items.length)}${state.more ? "+" : ""} shown`;
  }

  function reset() {
    state.generation += 1;
    state.items = [];
    state.cursor = null;
    state.more = true;
    state.loading = null;
    scroller.scrollTop = 0;
    draw(true);
  }

  function updateBulk() {
    const apply = root.querySelector("#bulk-apply");
    if (!apply) return;
    apply.textContent = `Apply to ${formatNumber(state.selected.size)} selected`;
    apply.disabled = !state.selected.size || !root.querySelector("#bulk-label").value;
  }

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(draw);
  });
  const resize = new ResizeObserver(() => draw());
  resize.observe(scroller);

  const filters = root.querySelector("#filters");
  let typing = 0;
  function readFilters() {
    state.filters = {
      q: filters.q.value.trim(),
      label: filters.label.value,
      unlabeled: filters.unlabeled.checked ? "true" : "",
    };
    exportLink.href = `/api/datasets/${datasetId}/export?format=csv`;
    reset();
  }
  filters.addEventListener("submit", (event) => event.preventDefault());
  filters.q.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(readFilters, 300);
  });
  filters.label.addEventListener("change", readFilters);
  filters.unlabeled.addEventListener("change", readFilters);

  // Export needs the token, so it is fetched and saved rather than followed as a plain link.
  exportLink.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const response = await api(`/datasets/${datasetId}/export?format=csv`, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const a = Object.assign(document.createElement("a"), { href: url, download: `${dataset.name}.csv` });
      a.click();
      URL.revokeObjectURL(url);
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });

  canvas.addEventListener("change", (event) => {
    const id = event.target.dataset.select;
    if (!id) return;
    if (event.target.checked) state.selected.add(id);
    else state.selected.delete(id);
    event.target.closest(".cell").setAttribute("aria-selected", String(event.target.checked));
    updateBulk();
  });
  root.querySelector("#select-all")?.addEventListener("click", () => {
    for (const item of state.items) state.selected.add(item.id);
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
    for (const item of state.items) if (state.selected.has(item.id)) item.label = label;
    state.selected.clear();
    draw(true);
    updateBulk();
  });

  // Uploads: a row per file with its own progress bar and, on failure, its reason and a retry.
  const list = root.querySelector("#uploads");
  async function upload(file, row) {
    const bar = row.querySelector("progress");
    const status = row.querySelector(".upload-status");
    row.querySelector("button")?.remove();
    status.textContent = "uploading";
    status.className = "upload-status";
    try {
      const item = await uploadFile(datasetId, file, (fraction) => {
        bar.value = Math.round(fraction * 100);
        bar.textContent = `${bar.value}%`;
      });
      status.textContent = "done";
      status.className = "upload-status ok";
      state.items.unshift(item);
      showCount();
      draw(true);
    } catch (error) {
      status.textContent = `failed: ${error.message}`;
      status.className = "upload-status error";
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => upload(file, row));
      row.append(retry);
    }
  }
  function addFiles(files) {
    for (const file of files) {
      const row = document.createElement("li");
      mount(
        row,
        html`<span>${file.name} <span class="muted">${formatBytes(file.size)}</span></span>
          <progress max="100" value="0" aria-label="${`Upload of ${file.name}`}">0%</progress>
          <span class="upload-status" aria-live="polite">waiting</span>`,
      );
      list.append(row);
      upload(file, row);
    }
  }
  const dropzone = root.querySelector("#dropzone");
  if (dropzone) {
    root.querySelector("#files").addEventListener("change", (event) => addFiles([...event.target.files]));
    dropzone.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropzone.classList.add("over");
    });
    dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
    dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropzone.classList.remove("over");
      addFiles([...event.dataTransfer.files]);
    });
  }

  reset();
  return () => resize.disconnect();
}
