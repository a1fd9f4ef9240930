// On the item page: its tags, editable by labelers (PUT /items/{i}/tags, the whole set each time),
// and deleting the item (editors, asked first).

import { api } from "../lib/api.js";
import { html, mount } from "../lib/html.js";

export function itemTags(holder, datasetId, item, { canEdit, toast }) {
  let tags = { ...(item.tags || {}) };

  function show() {
    const entries = Object.entries(tags);
    mount(
      holder,
      html`${entries.length
          ? html`<ul class="tag-list" id="tag-list">${entries.map(
              ([k, v]) => html`<li><span class="chip">${k}=${v}</span>
                ${canEdit
                  ? html`<button type="button" class="small" data-edit="${k}" aria-label="${`Change tag ${k}`}">Change</button>
                    <button type="button" class="small" data-remove="${k}" aria-label="${`Remove tag ${k}`}">Remove</button>`
                  : ""}</li>`,
            )}</ul>`
          : html`<span class="muted">none</span>`}
        ${canEdit
          ? html`<form class="tag-form" id="tag-form">
              <label>Tag <input name="key" required autocomplete="off" maxlength="128" placeholder="key"></label>
              <label>Value <input name="value" autocomplete="off" maxlength="256" placeholder="value"></label>
              <button type="submit">Save tag</button></form>
            <p class="error" id="tag-error" role="alert"></p>`
          : ""}`,
    );
  }

  async function save(next, done) {
    try {
      await api(`/datasets/${datasetId}/items/${item.id}/tags`, { method: "PUT", body: { tags: next } });
      tags = next;
      item.tags = next;
      show();
      toast(done);
    } catch (error) {
      const problem = holder.querySelector("#tag-error");
      if (problem) problem.textContent = error.message;
    }
  }

  show();
  if (!canEdit) return;
  holder.addEventListener("click", (event) => {
    const { edit, remove } = event.target.dataset;
    if (edit !== undefined) {
      const form = holder.querySelector("#tag-form");
      form.elements.key.value = edit;
      form.elements.value.value = tags[edit];
      form.elements.value.select();
    } else if (remove !== undefined) {
      const next = { ...tags };
      delete next[remove];
      save(next, `Tag ${remove} removed`);
    }
  });
  holder.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const key = form.elements.key.value.trim();
    if (!key) return;
    save({ ...tags, [key]: form.elements.value.value.trim() }, `Tag ${key} saved`);
  });
}

// A "Delete item" button for editors; `onDeleted()` leaves the page once it is gone.
export function itemDelete(holder, datasetId, item, { onDeleted, toast }) {
  mount(holder, html`<button type="button" class="danger" id="delete-item">Delete item</button>`);
  holder.querySelector("button").addEventListener("click", async () => {
    if (!confirm(`Delete ${item.filename}? This cannot be undone.`)) return;
    try {
      await api(`/datasets/${datasetId}/items/${item.id}`, { method: "DELETE" });
      toast(`${item.filename} deleted`);
      onDeleted();
    } catch (error) {
      toast(error.message, "error");
    }
  });
}
