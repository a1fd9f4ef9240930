// Labelling mode: one item at a time, a key per class (the dataset's hotkeys, shown on the
// buttons), saved at once with a visible state. A model's suggestion shows with its score and is
// accepted with Enter (or `a`); the walk can go least certain first (the model's margin). Arrows
// move, `u` undoes. Changing items touches only the few nodes that change; the next images are
// decoded ahead, so a key press is saved and the next item is on screen within a frame or two.

import { api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import * as hotkeys from "../lib/hotkeys.js";
import { html, mount } from "../lib/html.js";
import { ItemList } from "../lib/listing.js";
import { margin, modelNames, modelOptions, modelsOf, predictionOf, score, sourceText } from "../lib/predictions.js";

const PAGE = 100;
const AHEAD = 4; // images decoded ahead of the current one
const SORTS = [
  ["", "upload order"],
  ["margin", "least certain first"],
];

export async function render(root, { datasetId, query: asked = {} }, ctx) {
  const dataset = await api(`/datasets/${datasetId}`);
  const classes = dataset.label_classes?.length ? dataset.label_classes : Object.keys(dataset.label_counts || {});
  const keys = hotkeys.forDataset(dataset, classes);
  const byKey = hotkeys.byKey(keys);
  const acceptKeys = ["Enter", ...(byKey.has("a") ? [] : ["a"])];
  const undoKey = byKey.has("u") ? null : "u";
  const models = modelsOf(dataset);
  const names = modelNames(dataset);
  const known = (id) => models.some((m) => m.model_id === id);
  const model = "model" in asked ? (known(asked.model) ? asked.model : "") : (models[0]?.model_id ?? "");
  const state = {
    list: null,
    index: 0,
    model,
    suggest: asked.suggest !== "off",
    sort: asked.sort ?? (model ? "margin" : ""),
    onlyUnlabelled: asked.all !== "true",
    undo: [],
    queue: Promise.resolve(),
    images: new Map(), // item id -> an <img> already decoding or decoded
  };
  const canLabel = ctx.can("labeler");
  if (!canLabel) {
    // A viewer is not offered a labelling screen whose every button would refuse.
    mount(
      root,
      html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p><h1>Label “${dataset.name}”</h1>
        <p>Your role (viewer) can look at items, not label them: ask an admin for the labeler role.
          <a href="${`#/datasets/${datasetId}`}">Browse the items</a>.</p>`,
    );
    return;
  }

  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Label “${dataset.name}”</h1>
      <div class="label-mode">
        <div>
          <div class="stage" id="label-stage"><img id="big" alt=""></div>
          <p id="position" class="muted" aria-live="polite"></p>
        </div>
        <aside class="card">
          <p><strong id="filename"></strong></p>
          <p>Label: <strong id="current"></strong> <span id="source" class="muted"></span></p>
          <div id="suggestion" class="suggestion" hidden>
            <p>Suggestion: <strong id="suggested"></strong> <span id="suggested-score"></span>
              <span class="muted" id="suggested-margin"></span></p>
            <button type="button" id="accept"><kbd>Enter</kbd> Accept the suggestion</button>
          </div>
          <p id="save" class="save-state" aria-live="assertive"></p>
          <div class="keys" role="group" aria-label="Classes">
            ${classes.map(
              (c) => html`<button type="button" data-class="${c}" aria-keyshortcuts="${keys[c] ?? ""}">${keys[c] ? html`<kbd>${keys[c]}</kbd> ` : ""}${c}</button>`,
            )}
          </div>
          <p class="muted" id="key-help">${acceptKeys.map((k) => html`<kbd>${k}</kbd> `)}accept the suggestion · a class's key labels and moves on ·
            <kbd>←</kbd> <kbd>→</kbd> move${undoKey ? html` · <kbd>u</kbd> undo` : ""}</p>
          <div class="row">
            <button type="button" id="prev">Previous</button><button type="button" id="next">Next</button>
            <button type="button" id="undo">Undo</button>
          </div>
          <div class="row walk">
            ${models.length
              ? html`<label>Suggestions from <select id="model">${modelOptions(dataset, state.model)}</select></label>
                <label class="inline"><input type="checkbox" id="suggest" ${state.suggest ? "checked" : ""}> Show the suggestion</label>
                <label>Order <select id="sort">${SORTS.map(([v, l]) => html`<option value="${v}" ${v === state.sort ? "selected" : ""}>${l}</option>`)}</select></label>`
              : ""}
            <label class="inline"><input type="checkbox" id="unlabelled" ${state.onlyUnlabelled ? "checked" : ""}> Unlabelled items only</label>
          </div>
          ${classes.length ? "" : html`<p class="error">This dataset has no classes yet: set label classes or label some items first.</p>`}
        </aside>
      </div>`,
  );
  const $ = (selector) => root.querySelector(selector);
  let big = $("#big");
  const buttons = [...root.querySelectorAll("[data-class]")];

  function newList() {
    const params = { unlabeled: state.onlyUnlabelled ? "true" : "", status: "available" };
    if (state.sort === "margin" && state.model) Object.assign(params, { model: state.model, sort: "margin" });
    state.list = new ItemList(datasetId, params, PAGE);
    state.index = 0;
    for (const img of state.images.values()) img.removeAttribute("src");
    state.images.clear();
    // The address says the walk exactly (an empty model or sort too), so a reload gives the same one.
    const kept = [["model", state.model], ["sort", state.sort]];
    if (!state.suggest) kept.push(["suggest", "off"]);
    if (!state.onlyUnlabelled) kept.push(["all", "true"]);
    history.replaceState(null, "", `#/datasets/${datasetId}/label?${new URLSearchParams(kept)}`);
  }

  // Signed URLs expire: an image refused gets a freshly signed URL, once.
  async function renew(img, item) {
    const fresh = await api(`/datasets/${datasetId}/items/${item.id}`).catch(() => null);
    if (fresh?.download_url && img.getAttribute("src")) img.src = fresh.download_url;
  }

  function imageOf(item) {
    let img = state.images.get(item.id);
    if (!img) {
      img = new Image();
      img.decoding = "async";
      img.src = item.download_url || item.thumbnail_url || "";
      img.decode().catch(() => {}); // a broken image shows as broken, after one try with a new URL
      img.addEventListener("error", () => renew(img, item), { once: true });
      state.images.set(item.id, img);
    }
    return img;
  }

  // Decode the next images, and forget those well behind.
  function readAhead() {
    const items = state.list.items;
    for (let i = state.index + 1; i <= state.index + AHEAD && i < items.length; i += 1) imageOf(items[i]);
    for (const [id, img] of state.images) {
      const at = state.list.indexOf(id);
      if (at < state.index - 2 || at > state.index + AHEAD) {
        if (img !== big) img.removeAttribute("src");
        state.images.delete(id);
      }
    }
    if (state.list.more && state.index + 2 * AHEAD >= items.length) state.list.loadMore().then(readAhead, () => {});
  }

  function showSuggestion(item) {
    const prediction = state.suggest ? predictionOf(item, state.model) : null;
    const box = $("#suggestion");
    box.hidden = !prediction;
    for (const b of buttons) b.classList.toggle("suggested", Boolean(prediction && b.dataset.class === prediction.predicted));
    if (!prediction) return;
    $("#suggested").textContent = prediction.predicted;
    $("#suggested").style.color = colorOf(prediction.predicted, classes);
    $("#suggested-score").textContent = score(prediction.score);
    $("#suggested-margin").textContent = prediction.margin == null ? "" : `margin ${margin(prediction.margin)} · ${names[state.model] ?? ""}`;
  }

  function paint() {
    const items = state.list.items;
    const item = items[state.index];
    if (!item) {
      const n = items.length;
      $("#position").textContent = state.list.more
        ? "Loading…"
        : !n
          ? "Nothing left to label here."
          : state.onlyUnlabelled
            ? `Done: nothing left to label here (${n} items in this round; ← goes back).`
            : `End of the list (${n} items; ← goes back).`;
      const blank = new Image();
      blank.id = "big";
      blank.alt = "";
      big.replaceWith(blank);
      big = blank;
      for (const id of ["#filename", "#current", "#source"]) $(id).textContent = "";
      $("#suggestion").hidden = true;
      return;
    }
    const img = imageOf(item);
    if (img !== big) {
      img.id = "big";
      img.alt = item.filename;
      big.replaceWith(img);
      big = img;
    }
    $("#filename").textContent = item.filename;
    $("#current").textContent = item.label ?? "none";
    $("#source").textContent = item.label_source ? `by ${sourceText(item.label_source, names)}` : "";
    $("#position").textContent = `Item ${state.index + 1} of ${items.length}${state.list.more ? "+" : ""}`;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.class === item.label));
    showSuggestion(item);
    readAhead();
  }

  async function show() {
    if (state.index >= state.list.items.length && state.list.more) {
      paint(); // "Loading…" while the page comes
      try {
        await state.list.ensure(state.index);
      } catch (error) {
        $("#position").textContent = `Items could not be read: ${error.message}`;
        return;
      }
    }
    state.index = Math.min(state.index, state.list.items.length); // one past the last: the end
    paint();
  }

  // Every action waits for the one before: keys typed ahead apply to the items they were meant for.
  function later(action) {
    state.queue = state.queue.then(action).catch((error) => ctx.toast(error.message, "error"));
    return state.queue;
  }

  function move(step) {
    state.index = Math.max(0, state.index + step);
    return show();
  }

  function saved(item, text) {
    const badge = $("#save");
    badge.textContent = text;
    badge.className = "save-state ok";
    state.list.update(item);
  }

  function failed(item, error) {
    const badge = $("#save");
    badge.textContent = `Not saved (${item.filename}): ${error.message}`;
    badge.className = "save-state error";
  }

  async function setLabel(label, { advance = true, remember = true } = {}) {
    const item = state.list.items[state.index];
    if (!item || !canLabel) return;
    const before = { label: item.label ?? null, label_source: item.label_source ?? null };
    $("#save").textContent = "Saving…";
    $("#save").className = "save-state";
    try {
      await api(`/datasets/${datasetId}/items/${item.id}/label`, { method: "PUT", body: { label } });
    } catch (error) {
      return failed(item, error);
    }
    Object.assign(item, { label, label_source: label == null ? null : { kind: "person", by: ctx.me.user } });
    if (remember) state.undo.push({ index: state.index, ...before });
    saved(item, `Saved: ${item.filename} is ${label ?? "unlabelled"}`);
    if (advance) await move(1);
    else paint();
  }

  async function accept() {
    const item = state.list.items[state.index];
    if (!item || !canLabel) return;
    const prediction = state.suggest ? predictionOf(item, state.model) : null;
    if (!prediction) {
      $("#save").textContent = state.model ? "No suggestion for this item." : "Choose a model to get suggestions.";
      $("#save").className = "save-state error";
      return;
    }
    const before = { label: item.label ?? null, label_source: item.label_source ?? null };
    $("#save").textContent = "Saving…";
    $("#save").className = "save-state";
    let answer;
    try {
      answer = await api(`/datasets/${datasetId}/predictions/accept`, {
        method: "POST",
        body: { model_id: state.model, item_ids: [item.id], overwrite: item.label != null },
      });
    } catch (error) {
      return failed(item, error);
    }
    if (!answer.labelled) {
      const fresh = await api(`/datasets/${datasetId}/items/${item.id}`).catch(() => null);
      if (fresh) Object.assign(item, fresh);
      paint();
      return failed(item, new Error(fresh?.label ? `someone labelled it “${fresh.label}” meanwhile` : "the model's label was not applied"));
    }
    Object.assign(item, { label: prediction.predicted, label_source: { kind: "model", by: state.model } });
    state.undo.push({ index: state.index, ...before });
    saved(item, `Saved: ${item.filename} is ${prediction.predicted} (accepted from ${names[state.model] ?? "the model"})`);
    await move(1);
  }

  async function undo() {
    const last = state.undo.pop();
    if (!last) return ctx.toast("Nothing to undo");
    state.index = last.index;
    await setLabel(last.label, { advance: false, remember: false });
  }

  function onKey(event) {
    if (event.target.matches("input:not([type=checkbox]), select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = hotkeys.pressed(event);
    const onControl = event.target.matches("button, a, input, select");
    if (byKey.has(key)) {
      if (!event.repeat) later(() => setLabel(byKey.get(key)));
    } else if (acceptKeys.includes(key) && !(key === "Enter" && onControl)) {
      if (!event.repeat) later(accept);
    } else if (key === "ArrowRight") later(() => move(1));
    else if (key === "ArrowLeft") later(() => move(-1));
    else if (undoKey && key === undoKey) later(undo);
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  $(".keys").addEventListener("click", (event) => {
    const button = event.target.closest("[data-class]");
    if (!button) return;
    if (event.detail > 0) button.blur(); // after a mouse click, Enter accepts again rather than repeating this class
    later(() => setLabel(button.dataset.class));
  });
  $("#accept").addEventListener("click", () => later(accept));
  $("#prev").addEventListener("click", () => later(() => move(-1)));
  $("#next").addEventListener("click", () => later(() => move(1)));
  $("#undo").addEventListener("click", () => later(undo));
  function restart() {
    newList();
    later(show);
  }
  $("#unlabelled").addEventListener("change", (event) => {
    state.onlyUnlabelled = event.target.checked;
    restart();
  });
  $("#model")?.addEventListener("change", (event) => {
    state.model = event.target.value;
    if (!state.model && state.sort === "margin") {
      state.sort = "";
      $("#sort").value = "";
    }
    restart();
  });
  $("#suggest")?.addEventListener("change", (event) => {
    state.suggest = event.target.checked;
    const address = new URL(location.href);
    const search = new URLSearchParams(address.hash.split("?")[1] || "");
    if (state.suggest) search.delete("suggest");
    else search.set("suggest", "off");
    history.replaceState(null, "", `#/datasets/${datasetId}/label?${search}`);
    paint();
  });
  $("#sort")?.addEventListener("change", (event) => {
    state.sort = event.target.value;
    if (state.sort === "margin" && !state.model) {
      $("#save").textContent = "Choose a model to walk least certain first.";
      $("#save").className = "save-state error";
    }
    restart();
  });
  newList();
  await show();
  return () => {
    document.removeEventListener("keydown", onKey);
    for (const img of state.images.values()) img.removeAttribute("src");
  };
}
