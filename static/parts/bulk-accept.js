// Accept a model's predictions as labels in bulk: count first (a dry run says how many items it
// would label), then label them (POST /api/datasets/{d}/predictions/accept).

import { api } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { modelOptions, modelsOf } from "../lib/predictions.js";

// The grid's filters as the accept body's `query`: flags as booleans, scores as numbers.
function asQuery(filters) {
  const out = {};
  for (const [k, v] of Object.entries(filters)) {
    if (v === "" || v == null || k === "model" || k === "sort") continue;
    if (v === "true") out[k] = true;
    else if (k === "min_score" || k === "max_score") out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

export function bulkAccept(holder, dataset, { currentFilters, chosenModel, onDone, toast }) {
  if (!modelsOf(dataset).length) return;
  mount(
    holder,
    html`<details class="card" id="accept"><summary>Accept a model's predictions as labels</summary>
      <form id="accept-form" class="row">
        <label>Model <select name="model" required>${modelOptions(dataset, chosenModel(), "choose…")}</select></label>
        <label>Lowest score <input type="number" name="min_score" min="0" max="1" step="0.01" value="0.9" inputmode="decimal"></label>
        <label class="inline"><input type="checkbox" name="filtered"> Only items the filters above show</label>
        <label class="inline"><input type="checkbox" name="overwrite"> Replace labels people set</label>
        <button type="submit">Count items</button>
      </form>
      <p id="accept-count" role="status" aria-live="polite"></p>
      <button class="primary" type="button" id="accept-run" hidden></button></details>`,
  );
  const form = holder.querySelector("form");
  const note = holder.querySelector("#accept-count");
  const run = holder.querySelector("#accept-run");
  let counted = null;

  function body(dryRun) {
    const min = form.min_score.value;
    return {
      model_id: form.model.value,
      ...(min !== "" ? { min_score: Number(min) } : {}),
      ...(form.filtered.checked ? { query: asQuery(currentFilters()) } : {}),
      overwrite: form.overwrite.checked,
      dry_run: dryRun,
    };
  }
  form.addEventListener("input", () => {
    counted = null;
    run.hidden = true;
    note.textContent = "";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    note.className = "";
    if (!form.model.value) {
      note.textContent = "Choose a model.";
      note.className = "error";
      return;
    }
    try {
      counted = body(false);
      const answer = await api(`/datasets/${dataset.id}/predictions/accept`, { method: "POST", body: body(true) });
      note.textContent = `${formatNumber(answer.matched)} items will be labelled with the model's prediction.`;
      run.textContent = `Label ${formatNumber(answer.matched)} items`;
      run.hidden = !answer.matched;
    } catch (error) {
      note.textContent = error.message;
      note.className = "error";
    }
  });
  run.addEventListener("click", async () => {
    if (!counted) return;
    run.disabled = true;
    try {
      const answer = await api(`/datasets/${dataset.id}/predictions/accept`, { method: "POST", body: counted });
      const missed = answer.matched - answer.labelled;
      note.textContent = `${formatNumber(answer.labelled)} items labelled${missed > 0 ? `; ${formatNumber(missed)} were labelled by someone meanwhile and kept` : ""}.`;
      note.className = "ok";
      toast(`${formatNumber(answer.labelled)} items labelled from the model`);
      onDone();
    } catch (error) {
      note.textContent = `Not labelled: ${error.message}`;
      note.className = "error";
    } finally {
      run.disabled = false;
      run.hidden = true;
      counted = null;
    }
  });
}
