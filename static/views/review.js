// Review: the items whose label a model most likely gets wrong, likeliest first
// (GET /api/datasets/{d}/mistakes). Per row: accept the suggestion (the label becomes it) or keep
// the label (the item leaves the list); `a` and `k` act on the current row, ↑ ↓ move.

import { api, query } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { thumbnail } from "../lib/preview.js";
import { modelOptions, modelsOf } from "../lib/predictions.js";

const PAGE = 50;

export async function render(root, { datasetId, query: asked = {} }, ctx) {
  const dataset = await api(`/datasets/${datasetId}`);
  const classes = dataset.label_classes || [];
  const canLabel = ctx.can("labeler");
  const state = { rows: [], cursor: null, more: true, loading: null, model: asked.model ?? "", done: 0 };
  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Likely mistakes in “${dataset.name}”</h1>
      <p class="muted">Labelled items a model disagrees with most strongly, likeliest first.
        ${canLabel ? html`<kbd>a</kbd> accepts the suggestion, <kbd>k</kbd> keeps the label, <kbd>↑</kbd> <kbd>↓</kbd> move.` : ""}</p>
      <div class="row">
        ${modelsOf(dataset).length
          ? html`<label>Model <select id="review-model">${modelOptions(dataset, state.model, "all models")}</select></label>`
          : html`<p class="muted">No model has run on this dataset yet: run one from Jobs.</p>`}
        <span id="review-count" class="muted" aria-live="polite"></span>
      </div>
      <p id="review-state" class="save-state" role="status"></p>
      <ul class="review-list" id="review" aria-label="Likely mistakes"></ul>`,
  );
  const list = root.querySelector("#review");
  const status = root.querySelector("#review-state");

  function row(m) {
    const item = m.item || {};
    return html`<li tabindex="-1" data-id="${m.item_id}">
      ${thumbnail(item, { lazy: true })}
      <div><a href="${`#/datasets/${datasetId}/items/${m.item_id}`}">${item.filename ?? m.item_id}</a>
        <div>label <strong style="${`color:${colorOf(m.label, classes)}`}">${m.label}</strong> ·
          suggested <strong style="${`color:${colorOf(m.suggested, classes)}`}">${m.suggested}</strong>
          <span class="muted">· ${m.rank_score != null ? `how sure: ${m.rank_score.toFixed(2)}` : ""}</span></div></div>
      ${canLabel
        ? html`<div class="actions">
            <button type="button" data-action="accept" aria-keyshortcuts="a"><kbd>a</kbd> Accept ${m.suggested}</button>
            <button type="button" data-action="keep" aria-keyshortcuts="k"><kbd>k</kbd> Keep ${m.label}</button></div>`
        : ""}
    </li>`;
  }

  function showCount() {
    root.querySelector("#review-count").textContent = `${formatNumber(state.rows.length)}${state.more ? "+" : ""} to review${state.done ? ` · ${formatNumber(state.done)} done` : ""}`;
  }

  async function loadMore() {
    if (state.loading || !state.more) return state.loading;
    const model = state.model;
    state.loading = (async () => {
      try {
        const page = await api(`/datasets/${datasetId}/mistakes${query({ model, limit: PAGE, cursor: state.cursor })}`);
        if (model !== state.model) return;
        const seen = new Set(state.rows.map((r) => r.item_id));
        const fresh = page.items.filter((m) => !seen.has(m.item_id));
        state.rows.push(...fresh);
        state.cursor = page.next_cursor;
        state.more = Boolean(page.next_cursor);
        list.insertAdjacentHTML("beforeend", fresh.map((m) => row(m).toString()).join(""));
        if (!state.rows.length) list.innerHTML = "<li class='muted'>Nothing to review.</li>";
      } catch (error) {
        state.more = false;
        status.textContent = error.message;
        status.className = "save-state error";
      } finally {
        state.loading = null;
        showCount();
      }
    })();
    return state.loading;
  }

  function rows() {
    return [...list.querySelectorAll("li[data-id]")];
  }

  function current() {
    return document.activeElement?.closest?.("#review li[data-id]") ?? rows()[0] ?? null;
  }

  function focusRow(li) {
    li?.focus();
    li?.scrollIntoView({ block: "nearest" });
  }

  async function act(li, action) {
    if (!li || !canLabel || li.dataset.busy) return;
    const m = state.rows.find((r) => r.item_id === li.dataset.id);
    li.dataset.busy = "1";
    const name = m.item?.filename ?? m.item_id;
    try {
      if (action === "accept") {
        await api(`/datasets/${datasetId}/items/${m.item_id}/label`, { method: "PUT", body: { label: m.suggested } });
        status.textContent = `${name} is now ${m.suggested}.`;
      } else {
        await api(`/datasets/${datasetId}/mistakes/${m.item_id}/dismiss`, { method: "POST" });
        status.textContent = `${name} keeps ${m.label}; it leaves the list.`;
      }
      status.className = "save-state ok";
    } catch (error) {
      delete li.dataset.busy;
      status.textContent = `Not saved (${name}): ${error.message}`;
      status.className = "save-state error";
      return;
    }
    const next = li.nextElementSibling ?? li.previousElementSibling;
    li.remove();
    state.rows = state.rows.filter((r) => r !== m);
    state.done += 1;
    showCount();
    focusRow(next?.dataset.id ? next : null);
    if (state.more && rows().length < 10) await loadMore();
    if (!rows().length && !state.more) list.innerHTML = "<li class='muted'>Nothing left to review.</li>";
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button) act(button.closest("li"), button.dataset.action);
  });
  function onKey(event) {
    if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const li = current();
    if (event.key === "ArrowDown") focusRow(li && document.activeElement?.closest?.("#review li") ? li.nextElementSibling ?? li : li);
    else if (event.key === "ArrowUp") focusRow(li?.previousElementSibling ?? li);
    else if (event.key === "a" && !event.repeat) act(li, "accept");
    else if (event.key === "k" && !event.repeat) act(li, "keep");
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  root.querySelector("#review-model")?.addEventListener("change", (event) => {
    Object.assign(state, { model: event.target.value, rows: [], cursor: null, more: true, loading: null });
    list.replaceChildren();
    history.replaceState(null, "", `#/datasets/${datasetId}/review${state.model ? `?model=${encodeURIComponent(state.model)}` : ""}`);
    loadMore();
  });
  await loadMore();
  return () => document.removeEventListener("keydown", onKey);
}
