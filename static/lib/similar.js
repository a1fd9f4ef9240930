// Similarity in the same words everywhere: the dataset's searchable embeddings, the model choice,
// a result as a thumbnail with its similarity, and "find similar" for an image of the user's own
// (the bytes go to a signed URL, as item uploads do; the API only says when the answer is ready).

import { api } from "./api.js";
import { colorOf } from "./colors.js";
import { html } from "./html.js";
import { thumbnail } from "./preview.js";
import { toStorage } from "./upload.js";

const POLL_MS = 700;

// The models whose vectors of the dataset can be searched, newest first: [{model_id, model_name, …}].
export async function embeddingsOf(datasetId) {
  return (await api(`/datasets/${datasetId}/embeddings`)).items || [];
}

export function modelName(set) {
  return set.model_name || set.model_id;
}

// A select of the embedding models, `chosen` (or the newest) selected.
export function embeddingOptions(sets, chosen) {
  return sets.map(
    (s) => html`<option value="${s.model_id}" ${s.model_id === chosen ? "selected" : ""}>${modelName(s)} (${s.dims} dims)</option>`,
  );
}

// Cosine similarity as a percentage; a near copy reads 100 %.
export function similarityText(value) {
  return value == null ? "" : `${Math.round(100 * value)} %`;
}

// One similar item: thumbnail, similarity, label; the link opens it.
export function similarCard(datasetId, item, classes = []) {
  const id = item.item_id ?? item.id;
  const label = item.label;
  return html`<li data-id="${id}">
    <a href="${`#/datasets/${datasetId}/items/${id}`}" aria-label="${`${item.filename}, ${similarityText(item.similarity)} similar, ${label ? `label ${label}` : "unlabelled"}`}">
      ${thumbnail(item, { lazy: true })}
      <span class="similarity">${similarityText(item.similarity)}</span>
      <span class="caption" style="${`color:${label ? colorOf(label, classes) : "var(--muted)"}`}">${label ?? "unlabelled"}</span>
      <span class="caption muted">${item.filename}</span>
    </a></li>`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Items like `file`: ask for a query, send the image to its signed URL, then read the query until
// it is answered. onState("uploading", fraction) then onState("embedding"); resolves with the items.
// Reading stops (with an AbortError) once `wanted()` says the page that asked has gone.
export async function findSimilarToImage({ modelId, datasetId, k }, file, onState, wanted = () => true) {
  const ticket = await api("/similar", {
    method: "POST",
    body: {
      model_id: modelId,
      ...(datasetId ? { dataset_id: datasetId } : {}),
      ...(k ? { k } : {}),
      filename: file.name || "image",
      content_type: file.type || "application/octet-stream",
      size: file.size,
    },
  });
  onState("uploading", 0);
  await toStorage(ticket.upload, file, (fraction) => onState("uploading", fraction));
  onState("embedding");
  for (;;) {
    if (!wanted()) throw new DOMException("the page was left", "AbortError");
    const query = await api(`/similar/${ticket.id}`);
    if (query.status === "succeeded") return query.items || [];
    if (query.status === "failed") throw new Error(query.error || "the image could not be embedded");
    await sleep(POLL_MS);
  }
}
