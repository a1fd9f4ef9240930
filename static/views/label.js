// Labelling mode: one item at a time, a key per class, saved at once with a visible state;
// arrows move, `u` undoes the last label set here.

import { api, query } from "../lib/api.js";
import { html, mount } from "../lib/html.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

export async function render(root, { datasetId }, ctx) {
  const dataset = await api(`/datasets/${datasetId}`);
  const classes = (dataset.label_classes?.length ? dataset.label_classes : Object.keys(dataset.label_counts || {})).slice(0, 10);
  const state = { items: [], index: 0, cursor: null, more: true, onlyUnlabelled: true, undo: [] };
  const canLabel = ctx.can("labeler");

  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Label “${dataset.name}”</h1>
      <div class="label-mode">
        <div>
          <div class="stage"><img id="big" alt=""></div>
          <p id="position" class="muted" aria-live="polite"></p>
        </div>
        <aside class="card">
          <p><strong id="filename"></strong></p>
          <p>Label: <strong id="current"></strong></p>
          <p id="save" class="save-state" aria-live="assertive"></p>
          <div class="keys" role="group" aria-label="Classes">
            ${classes.map((c, i) => html`<button type="button" data-class="${c}" ${canLabel ? "" : "disabled"}><kbd>${KEYS[i]}</kbd> ${c}</button>`)}
          </div>
          <p class="muted"><kbd>←</kbd> <kbd>→</kbd> move · <kbd>u</kbd> undo · keys <kbd>1</kbd>–<kbd>0</kbd> label and move on</p>
          <div class="row">
            <button type="button" id="prev">Previous</button><button type="button" id="next">Next</button>
            <button type="button" id="undo">Undo</button>
          </div>
          <label class="inline"><input type="checkbox" id="unlabelled" checked> Unlabelled items only</label>
          ${classes.length ? "" : html`<p class="error">This dataset has no classes yet: set label classes or label some items first.</p>`}
        </aside>
      </div>`,
  );
  const big = root.querySelector("#big");

  async function ensure(index) {
    while (index >= state.items.length && state.more) {
      const page = await api(
        `/datasets/${datasetId}/items${query({ limit: 200, cursor: state.cursor, unlabeled: state.onlyUnlabelled ? "true" : "", status: "available" })}`,
      );
      state.items.push(...page.items);
      state.cursor = page.next_cursor;
      state.more = Boolean(page.next_cursor);
    }
    return index < state.items.length;
  }

  async function show() {
    if (!(await ensure(state.index))) {
      state.index = Math.max(0, state.items.length - 1);
      if (!state.items.length) {
        root.querySelector("#position").textContent = "Nothing left to label here.";
        big.removeAttribute("src");
        root.querySelector("#filename").textContent = "";
        root.querySelector("#current").textContent = "";
        return;
      }
    }
    const item = state.items[state.index];
    big.src = item.download_url || item.thumbnail_url || "";
    big.alt = item.filename;
    root.querySelector("#filename").textContent = item.filename;
    root.querySelector("#current").textContent = item.label ?? "none";
    root.querySelector("#position").textContent = `Item ${state.index + 1} of ${state.items.length}${state.more ? "+" : ""}`;
    for (const b of root.querySelectorAll("[data-class]")) b.setAttribute("aria-pressed", String(b.dataset.class === item.label));
    ensure(state.index + 20); // read ahead, so the next items are there when the keys are fast
  }

  function move(step) {
    state.index = Math.max(0, state.index + step);
    show();
  }

  async function setLabel(label, { advance = true, remember = true } = {}) {
    const item = state.items[state.index];
    if (!item || !canLabel) return;
    const badge = root.querySelector("#save");
    const before = item.label ?? null;
    badge.textContent = "Saving…";
    badge.className = "save-state";
    try {
      await api(`/datasets/${datasetId}/items/${item.id}/label`, { method: "PUT", body: { label } });
      item.label = label;
      if (remember) state.undo.push({ index: state.index, label: before });
      badge.textContent = `Saved: ${item.filename} is ${label ?? "unlabelled"}`;
      badge.className = "save-state ok";
      if (advance) move(1);
      else show();
    } catch (error) {
      badge.textContent = `Not saved (${item.filename}): ${error.message}`;
      badge.className = "save-state error";
    }
  }

  async function undo() {
    const last = state.undo.pop();
    if (!last) return ctx.toast("Nothing to undo");
    state.index = last.index;
    await setLabel(last.label, { advance: false, remember: false });
  }

  function onKey(event) {
    if (event.target.matches("input:not([type=checkbox]), select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const i = KEYS.indexOf(event.key);
    if (i >= 0 && i < classes.length) setLabel(classes[i]);
    else if (event.key === "ArrowRight") move(1);
    else if (event.key === "ArrowLeft") move(-1);
    else if (event.key === "u") undo();
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  root.querySelector(".keys").addEventListener("click", (event) => {
    const button = event.target.closest("[data-class]");
    if (button) setLabel(button.dataset.class);
  });
  root.querySelector("#prev").addEventListener("click", () => move(-1));
  root.querySelector("#next").addEventListener("click", () => move(1));
  root.querySelector("#undo").addEventListener("click", undo);
  root.querySelector("#unlabelled").addEventListener("change", (event) => {
    Object.assign(state, { items: [], index: 0, cursor: null, more: true, onlyUnlabelled: event.target.checked });
    show();
  });
  await show();
  return () => document.removeEventListener("keydown", onKey);
}
