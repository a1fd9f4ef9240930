// "Find similar" for an image of the user's own, on a dataset's page: pick or drop a file; it goes to
// a signed URL (progress shown), the model embeds it, and the dataset's most similar items show.

import { html, mount } from "../lib/html.js";
import { embeddingOptions, findSimilarToImage, similarCard } from "../lib/similar.js";

const SHOWN = 24;

export function findSimilar(holder, dataset, sets, classes) {
  mount(
    holder,
    html`<details class="card" id="find-similar"><summary>Find similar to an image</summary>
      ${sets.length
        ? html`${sets.length > 1
              ? html`<div class="row"><label>Embedding model <select id="find-model">${embeddingOptions(sets, sets[0].model_id)}</select></label></div>`
              : ""}
            <div class="dropzone" id="find-drop">Drop an image here, or
              <label class="inline"><span class="sr">Choose an image</span><input type="file" id="find-file" accept="image/*"></label></div>
            <div class="row find-progress" hidden id="find-progress-row">
              <progress id="find-progress" max="100" value="0" aria-label="Upload of the image">0%</progress>
              <span id="find-state" role="status" aria-live="polite"></span>
            </div>
            <ul class="strip wrap" id="find-results" aria-label="Items like the image"></ul>`
        : html`<p class="muted">This needs an embedding model's job over the dataset (Jobs): then any image finds its look-alikes here.</p>`}
    </details>`,
  );
  const drop = holder.querySelector("#find-drop");
  if (!drop) return;
  const row = holder.querySelector("#find-progress-row");
  const bar = holder.querySelector("#find-progress");
  const state = holder.querySelector("#find-state");
  const results = holder.querySelector("#find-results");
  let busy = false;

  async function search(file) {
    if (!file || busy) return;
    busy = true;
    row.hidden = false;
    results.replaceChildren();
    state.className = "";
    const modelId = holder.querySelector("#find-model")?.value ?? sets[0].model_id;
    try {
      const items = await findSimilarToImage({ modelId, datasetId: dataset.id, k: SHOWN }, file, (stage, fraction) => {
        if (stage === "uploading") {
          bar.value = Math.round(fraction * 100);
          bar.textContent = `${bar.value}%`;
          state.textContent = `Uploading ${file.name}… ${bar.value} %`;
        } else {
          bar.removeAttribute("value"); // indeterminate while the model works
          state.textContent = `Embedding ${file.name}…`;
        }
      }, () => holder.isConnected);
      bar.value = 100;
      mount(results, items.map((item) => similarCard(dataset.id, item, classes)));
      state.textContent = items.length ? `${items.length} items like ${file.name}` : `No item like ${file.name} here.`;
      state.className = "ok";
    } catch (error) {
      if (error.name === "AbortError") return;
      state.textContent = `Not found: ${error.message}`;
      state.className = "error";
    } finally {
      busy = false;
    }
  }

  holder.querySelector("#find-file").addEventListener("change", (event) => {
    search(event.target.files[0]);
    event.target.value = ""; // the same file again searches again
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    search(event.dataTransfer.files[0]);
  });
}
