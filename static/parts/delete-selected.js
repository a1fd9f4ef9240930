// Deleting the grid's selected items (editors): asked first, sent in chunks the API accepts.

import { api } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";

const CHUNK = 1000; // the API's most ids per bulk request

// `selected()` gives the chosen ids; `onDone()` runs after the deletes (to refresh the grid).
export function deleteSelected(holder, datasetId, { selected, onDone, toast }) {
  mount(holder, html`<button type="button" class="danger" id="delete-selected" disabled>Delete 0 selected</button>`);
  const button = holder.querySelector("button");
  button.addEventListener("click", async () => {
    const ids = selected();
    const n = `${formatNumber(ids.length)} ${ids.length === 1 ? "item" : "items"}`;
    if (!ids.length || !confirm(`Delete ${n}? This cannot be undone.`)) return;
    button.disabled = true;
    let failed = 0;
    try {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const answer = await api(`/datasets/${datasetId}/bulk/delete`, { method: "POST", body: { item_ids: ids.slice(i, i + CHUNK) } });
        failed += answer.results.filter((r) => r.status >= 300 && r.status !== 404).length; // gone already is fine
      }
      toast(failed ? `${formatNumber(ids.length - failed)} deleted, ${formatNumber(failed)} failed` : `${n} deleted`, failed ? "error" : "info");
    } catch (error) {
      toast(error.message, "error");
    }
    onDone();
  });
  return {
    // The button follows the selection's size.
    update(count) {
      button.textContent = `Delete ${formatNumber(count)} selected`;
      button.disabled = !count;
    },
  };
}
