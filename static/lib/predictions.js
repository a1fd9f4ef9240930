// Models' predictions on items, and who set a label, in the same words everywhere.

import { html } from "./html.js";

// The models with predictions on a dataset: [{model_id, model_name, job_id, items}].
export function modelsOf(dataset) {
  return dataset.predictions || [];
}

export function modelNames(dataset) {
  return Object.fromEntries(modelsOf(dataset).map((m) => [m.model_id, m.model_name || m.model_id]));
}

export function predictionOf(item, modelId) {
  if (!modelId) return null;
  return (item.predictions || []).find((p) => p.model_id === modelId) ?? null;
}

export function score(value) {
  return value == null ? "" : `${Math.round(100 * value)} %`;
}

export function margin(value) {
  return value == null ? "" : value.toFixed(2);
}

// A prediction that is not the label: only when both exist.
export function disagrees(item, prediction) {
  return Boolean(prediction?.predicted != null && item.label != null && prediction.predicted !== item.label);
}

// "bob" or "model digits-random-forest"; "" when nobody is known.
export function sourceText(source, names = {}) {
  if (!source) return "";
  return source.kind === "model" ? `model ${names[source.by] ?? source.by}` : source.by;
}

// A select of the dataset's models, `chosen` selected; "" stands for no model.
export function modelOptions(dataset, chosen, none = "none") {
  return html`<option value="">${none}</option>${modelsOf(dataset).map(
    (m) => html`<option value="${m.model_id}" ${m.model_id === chosen ? "selected" : ""}>${m.model_name || m.model_id}</option>`,
  )}`;
}
