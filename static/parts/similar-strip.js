// The item page's "Similar items" strip: the nearest items by an embedding model (a choice when the
// dataset has several), each with its similarity and label; a short note instead when the dataset
// has no embeddings yet.

import { api, query } from "../lib/api.js";
import { html, mount } from "../lib/html.js";
import { embeddingOptions, embeddingsOf, similarCard } from "../lib/similar.js";

const SHOWN = 12;
const chosen = new Map(); // dataset id -> the embedding model last chosen, kept while walking items

export async function similarStrip(holder, { datasetId, itemId, classes }) {
  let sets;
  try {
    sets = await embeddingsOf(datasetId);
  } catch (error) {
    mount(holder, html`<h2>Similar items</h2><p class="error">${error.message}</p>`);
    return;
  }
  if (!sets.length) {
    mount(
      holder,
      html`<h2>Similar items</h2>
        <p class="muted" id="similar-note">Similar items show here once an embedding model has run on this dataset (Jobs).</p>`,
    );
    return;
  }
  const model = sets.some((s) => s.model_id === chosen.get(datasetId)) ? chosen.get(datasetId) : sets[0].model_id;
  mount(
    holder,
    html`<div class="row strip-head"><h2 id="similar-title">Similar items</h2>
        ${sets.length > 1
          ? html`<label>Embedding model <select id="similar-model">${embeddingOptions(sets, model)}</select></label>`
          : ""}
        <a id="similar-more" href="${`#/datasets/${datasetId}/similar/${itemId}${query({ model })}`}">More like this →</a></div>
      <p class="muted" id="similar-state" role="status"></p>
      <ul class="strip" id="similar" aria-labelledby="similar-title"></ul>`,
  );
  const strip = holder.querySelector("#similar");
  const state = holder.querySelector("#similar-state");

  async function show(modelId) {
    state.textContent = "Looking for similar items…";
    state.className = "muted";
    strip.replaceChildren();
    holder.querySelector("#similar-more").href = `#/datasets/${datasetId}/similar/${itemId}${query({ model: modelId })}`;
    try {
      const answer = await api(`/datasets/${datasetId}/items/${itemId}/similar${query({ model: modelId, k: SHOWN })}`);
      mount(strip, answer.items.map((item) => similarCard(datasetId, item, classes)));
      state.textContent = answer.items.length ? "" : answer.missing || "No other item to compare with.";
    } catch (error) {
      state.textContent = error.message;
      state.className = "error";
    }
  }
  holder.querySelector("#similar-model")?.addEventListener("change", (event) => {
    chosen.set(datasetId, event.target.value);
    show(event.target.value);
  });
  await show(model);
}
