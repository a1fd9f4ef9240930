// A dataset's labelling keys: one field per class holding its key; editors change and save them
// (PATCH /api/datasets/{d} {"hotkeys": {class: key}}), everyone else reads them.

import { api } from "../lib/api.js";
import * as hotkeys from "../lib/hotkeys.js";
import { html, mount } from "../lib/html.js";

export function hotkeyEditor(holder, dataset, classes, ctx) {
  const canEdit = ctx.can("editor") && Boolean(dataset.label_classes?.length);
  mount(
    holder,
    html`<details class="card" id="hotkeys"><summary>Labelling keys</summary>
      <form id="hotkeys-form">
        <div class="keygrid"></div>
        ${canEdit
          ? html`<div class="row"><button class="primary" type="submit">Save keys</button>
              <button type="button" id="hotkeys-reset">Back to the defaults</button>
              <span id="hotkeys-state" class="save-state" role="status"></span></div>`
          : html`<p class="muted">${ctx.can("editor") ? "Declare the dataset's classes to choose keys." : "Editors choose the keys."}</p>`}
      </form></details>`,
  );
  const form = holder.querySelector("form");
  const grid = holder.querySelector(".keygrid");
  const status = holder.querySelector("#hotkeys-state");

  function fill(keys) {
    mount(
      grid,
      classes.map((c) =>
        canEdit
          ? html`<label class="inline"><span class="key-class">${c}</span>
              <input class="key-input" data-class="${c}" value="${keys[c] ?? ""}" maxlength="2" size="2" autocomplete="off"
                spellcheck="false" aria-label="${`Key for ${c}`}"></label>`
          : html`<span class="inline"><span class="key-class">${c}</span> <kbd>${keys[c] ?? "none"}</kbd></span>`,
      ),
    );
  }
  fill(hotkeys.forDataset(dataset, classes));
  if (!canEdit) return;

  async function save(chosen, done) {
    const wrong = hotkeys.problem(chosen);
    if (wrong) {
      status.textContent = wrong;
      status.className = "save-state error";
      return;
    }
    status.textContent = "Saving…";
    status.className = "save-state";
    try {
      const updated = await api(`/datasets/${dataset.id}`, { method: "PATCH", body: { hotkeys: chosen } });
      dataset.hotkeys = updated.hotkeys;
      fill(hotkeys.forDataset(dataset, classes));
      status.textContent = done;
      status.className = "save-state ok";
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
      status.className = "save-state error";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = Object.fromEntries(
      [...grid.querySelectorAll("[data-class]")].filter((i) => i.value.trim()).map((i) => [i.dataset.class, i.value.trim()]),
    );
    save(chosen, "Keys saved");
  });
  holder.querySelector("#hotkeys-reset").addEventListener("click", () => save({}, "Back to the default keys"));
}
