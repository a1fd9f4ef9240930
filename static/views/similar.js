// "Find similar" from a grid cell: the items most like one item, most similar first, by an embedding
// model of the dataset, narrowed by the listing's filters (a label, unlabelled only). The choices
// stay in the address, so back from an item returns to the same results.

import { api, query } from "../lib/api.js";
import { html, mount } from "../lib/html.js";
import { thumbnail } from "../lib/preview.js";
import { embeddingOptions, embeddingsOf, similarCard } from "../lib/similar.js";

const MAX_K = 100;

export async function render(root, { datasetId, itemId, query: asked = {} }) {
  const [dataset, item, sets] = await Promise.all([
    api(`/datasets/${datasetId}`),
    api(`/datasets/${datasetId}/items/${itemId}`),
    embeddingsOf(datasetId),
  ]);
  const classes = [...new Set([...(dataset.label_classes || []), ...Object.keys(dataset.label_counts || {})])];
  const model = sets.some((s) => s.model_id === asked.model) ? asked.model : sets[0]?.model_id;
  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Items like “${item.filename}”</h1>
      <div class="similar-source">
        ${thumbnail(item, { alt: item.filename })}
        <p><a href="${`#/datasets/${datasetId}/items/${itemId}`}">Open ${item.filename}</a><br>
          <span class="muted">${item.label ? `label ${item.label}` : "unlabelled"}</span></p>
      </div>
      ${sets.length
        ? html`<form class="row" id="similar-form" role="search">
            <label>Embedding model <select name="model">${embeddingOptions(sets, model)}</select></label>
            <label>How many <input type="number" name="k" min="1" max="${MAX_K}" value="${asked.k ?? 24}" inputmode="numeric"></label>
            <label>Label <select name="label"><option value="">any</option>
              ${classes.map((c) => html`<option ${c === asked.label ? "selected" : ""}>${c}</option>`)}</select></label>
            <label class="inline"><input type="checkbox" name="unlabeled" ${asked.unlabeled === "true" ? "checked" : ""}> Unlabelled only</label>
            <span class="muted" id="similar-count" aria-live="polite"></span>
          </form>
          <ul class="strip wrap" id="similar-results" aria-label="Similar items"></ul>`
        : html`<p class="muted">This dataset has no embeddings yet: run an embedding model over it (Jobs), then come back.</p>`}`,
  );
  const form = root.querySelector("#similar-form");
  if (!form) return;
  const results = root.querySelector("#similar-results");
  const count = root.querySelector("#similar-count");
  let asking = 0; // only the latest answer is shown when the choices change quickly

  async function show() {
    const k = Number(form.k.value);
    if (!(Number.isInteger(k) && k >= 1 && k <= MAX_K)) {
      count.textContent = `How many: a whole number from 1 to ${MAX_K}.`;
      count.className = "error";
      return;
    }
    const params = {
      model: form.model.value,
      k,
      label: form.label.value,
      unlabeled: form.unlabeled.checked ? "true" : "",
    };
    history.replaceState(null, "", `#/datasets/${datasetId}/similar/${itemId}${query(params)}`);
    const mine = ++asking;
    count.textContent = "Looking…";
    count.className = "muted";
    try {
      const answer = await api(`/datasets/${datasetId}/items/${itemId}/similar${query(params)}`);
      if (mine !== asking) return;
      mount(results, answer.items.map((found) => similarCard(datasetId, found, classes)));
      count.textContent = `${answer.items.length} found`;
    } catch (error) {
      if (mine !== asking) return;
      results.replaceChildren();
      count.textContent = error.message;
      count.className = "error";
    }
  }
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", show);
  await show();
}
