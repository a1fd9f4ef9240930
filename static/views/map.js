// The dataset map: every item placed by its embedding (computed on the server), coloured by its label
// or its predicted class, with a legend. Wheel or + − zoom, drag pans, a lasso (shift-drag, or lasso
// mode) selects, and so does a legend entry (the keyboard way); labelers label the selection in
// bulk. A click on a point opens the item. Every page of the map is loaded, with progress.

import { api, query } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { embeddingOptions, embeddingsOf } from "../lib/similar.js";
import { mapCanvas } from "../parts/map-canvas.js";

const PAGE = 10000; // the API's largest page
const BULK_CHUNK = 1000; // the API's most labels per request
const NONE = "#b8bfca";
const NONE_KEY = "\u0000none"; // the legend's key for "unlabelled" / "no prediction", never a class name

export async function render(root, { datasetId, query: asked = {} }, ctx) {
  const [dataset, sets] = await Promise.all([api(`/datasets/${datasetId}`), embeddingsOf(datasetId)]);
  const classes = [...new Set([...(dataset.label_classes || []), ...Object.keys(dataset.label_counts || {})])];
  const canLabel = ctx.can("labeler");
  const model = sets.some((s) => s.model_id === asked.model) ? asked.model : sets[0]?.model_id;
  const state = { points: [], selected: new Set(), by: asked.by === "prediction" ? "prediction" : "label", loading: null };

  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Map of “${dataset.name}”</h1>
      ${sets.length
        ? html`<p class="muted" id="map-help">Each point is an item, placed by its embedding: look-alikes lie close together.
            Drag to pan, the wheel or <kbd>+</kbd> <kbd>−</kbd> zoom, <kbd>0</kbd> fits. Shift-drag (or lasso mode) draws a lasso
            (<kbd>Ctrl</kbd> adds to the selection); a legend entry selects its points; a click on a point opens it.</p>
          <div class="row map-tools" role="toolbar" aria-label="Map">
            ${sets.length > 1 ? html`<label>Embedding model <select id="map-model">${embeddingOptions(sets, model)}</select></label>` : ""}
            <fieldset class="inline-fields" id="map-colour"><legend>Colour by</legend>
              <label class="inline"><input type="radio" name="by" value="label" ${state.by === "label" ? "checked" : ""}> label</label>
              <label class="inline"><input type="radio" name="by" value="prediction" ${state.by === "prediction" ? "checked" : ""}> prediction</label></fieldset>
            <fieldset class="inline-fields" id="map-mode"><legend>Dragging</legend>
              <label class="inline"><input type="radio" name="mode" value="pan" checked> pans</label>
              <label class="inline"><input type="radio" name="mode" value="lasso"> draws a lasso</label></fieldset>
            <button type="button" id="map-zoom-out" aria-label="Zoom out">−</button>
            <button type="button" id="map-zoom-in" aria-label="Zoom in">+</button>
            <button type="button" id="map-fit">Fit</button>
          </div>
          <p id="map-loading" role="status"><progress id="map-progress" max="1" value="0" aria-label="Points loaded"></progress>
            <span id="map-loaded">Loading the map…</span></p>
          <div class="map-layout">
            <div class="map-frame" id="map-frame">
              <canvas class="map-points" id="map" tabindex="0" role="img"
                aria-label="${`Map of ${dataset.name}; + and − zoom, 0 fits, arrows pan, Escape clears the selection`}"></canvas>
              <canvas class="map-lasso" aria-hidden="true"></canvas>
              <div class="map-tip" id="map-tip" hidden></div>
            </div>
            <aside class="card">
              <h2 id="legend-title">Legend</h2>
              <ul class="legend" id="legend" aria-labelledby="legend-title"></ul>
              <h2>Selection</h2>
              <p><strong id="map-selected" aria-live="polite">0 selected</strong></p>
              <button type="button" id="map-clear" disabled>Clear selection</button>
              ${canLabel
                ? html`<div class="row"><label>Label selection as <select id="map-label"><option value="">choose…</option>
                      ${classes.map((c) => html`<option>${c}</option>`)}<option value="__none__">(remove label)</option></select></label>
                    <button class="primary" type="button" id="map-apply" disabled>Label 0 selected</button></div>
                    <p id="map-outcome" role="status"></p>`
                : ""}
            </aside>
          </div>`
        : html`<p class="muted">The map needs an embedding model's job over this dataset (Jobs): then every item gets its place here.</p>`}`,
  );
  if (!sets.length) return;
  const $ = (selector) => root.querySelector(selector);
  const keyOf = (p) => (state.by === "label" ? p.label : p.predicted) ?? NONE_KEY;
  const colourOf = (key) => (key === NONE_KEY ? NONE : colorOf(key, classes));
  const surface = mapCanvas($("#map-frame"), {
    points: state.points,
    colorOf: (p) => colourOf(keyOf(p)),
    selected: (i) => state.selected.has(i),
    mode: () => root.querySelector("input[name=mode]:checked").value,
    onLasso: (indices, add) => {
      if (!add) state.selected.clear();
      for (const i of indices) state.selected.add(i);
      changed();
    },
    onOpen: (point) => ctx.navigate(`#/datasets/${datasetId}/items/${point.item_id}`),
    onHover: (point, at) => {
      const tip = $("#map-tip");
      tip.hidden = !point;
      if (!point) return;
      tip.textContent = `${point.label ?? "unlabelled"}${point.predicted != null ? ` · predicted ${point.predicted}` : ""}`;
      tip.style.left = `${at[0] + 12}px`;
      tip.style.top = `${at[1] + 12}px`;
    },
  });

  function legend() {
    const counts = new Map();
    for (const p of state.points) counts.set(keyOf(p), (counts.get(keyOf(p)) ?? 0) + 1);
    const keys = [...classes.filter((c) => counts.has(c)), ...[...counts.keys()].filter((k) => !classes.includes(k) && k !== NONE_KEY)];
    if (counts.has(NONE_KEY)) keys.push(NONE_KEY);
    const name = (k) => (k !== NONE_KEY ? k : state.by === "label" ? "unlabelled" : "no prediction");
    mount(
      $("#legend"),
      keys.map(
        (k) => html`<li><button type="button" data-key="${k}" aria-label="${`Select the ${formatNumber(counts.get(k))} points ${state.by === "label" ? "labelled" : "predicted"} ${name(k)}`}">
          <span class="swatch" style="${`background:${colourOf(k)}`}"></span>${name(k)} <span class="muted">${formatNumber(counts.get(k))}</span></button></li>`,
      ),
    );
  }

  function changed() {
    const n = state.selected.size;
    $("#map-selected").textContent = `${formatNumber(n)} selected`;
    $("#map-clear").disabled = !n;
    const apply = $("#map-apply");
    if (apply) {
      apply.textContent = `Label ${formatNumber(n)} selected`;
      apply.disabled = !n || !$("#map-label").value;
    }
    surface.draw();
  }

  // Every page of the map, drawn as it arrives; a change of model starts over.
  async function load(modelId) {
    state.loading?.abort();
    const loading = new AbortController();
    state.loading = loading;
    state.points.length = 0;
    state.selected.clear();
    changed();
    const bar = $("#map-progress");
    const words = $("#map-loaded");
    bar.hidden = false;
    words.className = "";
    words.textContent = "Loading the map…";
    let cursor = null;
    try {
      do {
        const page = await api(`/datasets/${datasetId}/map${query({ model: modelId, limit: PAGE, cursor })}`, { signal: loading.signal });
        state.points.push(...page.items);
        cursor = page.next_cursor;
        bar.max = Math.max(1, page.total);
        bar.value = state.points.length;
        words.textContent = `${formatNumber(state.points.length)} of ${formatNumber(page.total)} points`;
        legend();
        surface.draw();
      } while (cursor);
      bar.hidden = true;
      words.textContent = `${formatNumber(state.points.length)} points`;
    } catch (error) {
      if (error.name === "AbortError") return;
      words.textContent = error.message;
      words.className = "error";
    }
  }

  root.querySelector("#map-colour").addEventListener("change", (event) => {
    state.by = event.target.value;
    history.replaceState(null, "", `#/datasets/${datasetId}/map${query({ model: $("#map-model")?.value, by: state.by === "prediction" ? "prediction" : "" })}`);
    legend();
    surface.draw();
  });
  $("#map-model")?.addEventListener("change", (event) => {
    history.replaceState(null, "", `#/datasets/${datasetId}/map${query({ model: event.target.value, by: state.by === "prediction" ? "prediction" : "" })}`);
    load(event.target.value);
  });
  $("#map-zoom-in").addEventListener("click", surface.zoomIn);
  $("#map-zoom-out").addEventListener("click", surface.zoomOut);
  $("#map-fit").addEventListener("click", surface.fit);
  $("#map").addEventListener("keydown", (event) => {
    if (surface.key(event)) event.preventDefault();
    else if (event.key === "Escape" && state.selected.size) {
      state.selected.clear();
      changed();
    }
  });
  $("#legend").addEventListener("click", (event) => {
    const key = event.target.closest("[data-key]")?.dataset.key;
    if (key === undefined) return;
    if (!(event.ctrlKey || event.metaKey)) state.selected.clear();
    state.points.forEach((p, i) => keyOf(p) === key && state.selected.add(i));
    changed();
  });
  $("#map-clear").addEventListener("click", () => {
    state.selected.clear();
    changed();
  });
  $("#map-label")?.addEventListener("change", changed);
  $("#map-apply")?.addEventListener("click", async (event) => {
    const choice = $("#map-label").value;
    const label = choice === "__none__" ? null : choice;
    const chosen = [...state.selected].map((i) => state.points[i]);
    const outcome = $("#map-outcome");
    event.target.disabled = true;
    let failed = 0;
    let stopped = "";
    for (let i = 0; i < chosen.length && !stopped; i += BULK_CHUNK) {
      const part = chosen.slice(i, i + BULK_CHUNK);
      try {
        const answer = await api(`/datasets/${datasetId}/labels`, {
          method: "POST",
          body: { labels: part.map((p) => ({ item_id: p.item_id, label })) },
        });
        const refused = new Set(answer.results.filter((r) => r.status >= 300).map((r) => r.item_id));
        failed += refused.size;
        for (const p of part) if (!refused.has(p.item_id)) p.label = label;
      } catch (error) {
        stopped = error.message;
        failed += chosen.length - i;
      }
    }
    const done = chosen.length - failed;
    outcome.textContent = `${formatNumber(done)} labelled “${label ?? "none"}”${failed ? `; ${formatNumber(failed)} not labelled${stopped ? `: ${stopped}` : ""}` : "."}`;
    outcome.className = failed ? "error" : "ok";
    if (!failed) state.selected.clear();
    legend();
    changed();
  });

  load(model);
  return () => {
    state.loading?.abort();
    surface.destroy();
  };
}
