// "Select all N matches": a bar that labels, tags or deletes every item the grid's filters match,
// on the server (POST /bulk/query). It counts first (a dry run), asks with that count, then follows
// the run with a progress bar; the run acts on exactly the items counted (`expected`).

import { api } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { followRun, showRun } from "../lib/runs.js";

const NO_LABEL = "__none__";

// The grid's filters as the run's `query`: flags as booleans, scores as numbers, no sort.
function asQuery(filters) {
  const out = {};
  for (const [k, v] of Object.entries(filters)) {
    if (v === "" || v == null || k === "sort") continue;
    if (v === "true") out[k] = true;
    else if (k === "min_score" || k === "max_score") out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

// "a=1, b=two" -> {a: "1", b: "two"}; a pair without "=" or with an empty key is an error in words.
export function parseTags(text) {
  const tags = {};
  for (const pair of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    const key = at > 0 ? pair.slice(0, at).trim() : "";
    if (!key) throw new Error(`“${pair}” is not key=value.`);
    tags[key] = pair.slice(at + 1).trim();
  }
  if (!Object.keys(tags).length) throw new Error("Write at least one tag as key=value.");
  return tags;
}

function question(action, count, label, tags) {
  const n = `${formatNumber(count)} ${count === 1 ? "item" : "items"}`;
  if (action === "delete") return `Delete ${n}? This cannot be undone.`;
  if (action === "tags") return `Tag ${n} with ${Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(", ")}?`;
  return label === null ? `Remove the label from ${n}?` : `Label ${n} as ${label}?`;
}

// `buttonHolder` gets the "Select all N matches" button, `barHolder` the bar it opens.
export function bulkByQuery(buttonHolder, barHolder, dataset, classes, { currentFilters, canDelete, onDone }) {
  let total = null;
  let pending = null; // the counted request waiting for the person's yes
  mount(buttonHolder, html`<button type="button" id="select-matches" hidden></button>`);
  mount(
    barHolder,
    html`<section class="card bulk-bar" id="bulk-bar" aria-labelledby="bulk-bar-title" hidden>
      <h2 id="bulk-bar-title"></h2>
      <form id="bulk-query-form" class="row">
        <label>Action <select name="action">
          <option value="label">Set the label</option><option value="tags">Add tags</option>
          ${canDelete ? html`<option value="delete">Delete</option>` : ""}</select></label>
        <label data-for="label">Label <select name="label"><option value="">choose…</option>
          ${classes.map((c) => html`<option>${c}</option>`)}<option value="${NO_LABEL}">(remove label)</option></select></label>
        <label data-for="tags" hidden>Tags <input name="tags" placeholder="key=value, other=value" autocomplete="off"></label>
        <button type="submit">Count and apply…</button>
        <button type="button" id="bulk-bar-close">Close</button>
      </form>
      <p class="error" id="bulk-query-error" role="alert"></p>
      <div id="bulk-query-confirm" hidden>
        <p id="bulk-query-question"></p>
        <div class="row"><button type="button" class="primary" id="bulk-query-run">Yes, go ahead</button>
          <button type="button" id="bulk-query-back">No</button></div>
      </div>
      <div id="bulk-query-progress"></div></section>`,
  );
  const open = buttonHolder.querySelector("#select-matches");
  const bar = barHolder.querySelector("#bulk-bar");
  const form = bar.querySelector("form");
  const problem = bar.querySelector("#bulk-query-error");
  const confirmBox = bar.querySelector("#bulk-query-confirm");
  const progress = bar.querySelector("#bulk-query-progress");
  const run = bar.querySelector("#bulk-query-run");

  function showTotal() {
    open.hidden = !total;
    open.textContent = `Select all ${formatNumber(total ?? 0)} matches`;
    bar.querySelector("#bulk-bar-title").textContent = `All ${formatNumber(total ?? 0)} items that match the filters`;
  }
  function ask(request) {
    pending = request;
    confirmBox.hidden = !request;
    form.querySelector("[type=submit]").disabled = Boolean(request);
  }
  function showAction() {
    const action = form.elements.action.value;
    bar.querySelector("[data-for=label]").hidden = action !== "label";
    bar.querySelector("[data-for=tags]").hidden = action !== "tags";
  }

  open.addEventListener("click", () => {
    bar.hidden = false;
    form.elements.action.focus();
  });
  bar.querySelector("#bulk-bar-close").addEventListener("click", () => {
    ask(null);
    bar.hidden = true;
    open.focus();
  });
  form.addEventListener("input", () => {
    showAction();
    problem.textContent = "";
    ask(null);
  });
  bar.querySelector("#bulk-query-back").addEventListener("click", () => ask(null));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const action = form.elements.action.value;
    const body = { query: asQuery(currentFilters()), action };
    let label = null;
    let tags = null;
    try {
      if (action === "label") {
        if (!form.elements.label.value) throw new Error("Choose a label (or “remove label”).");
        label = form.elements.label.value === NO_LABEL ? null : form.elements.label.value;
        body.label = label;
      } else if (action === "tags") {
        tags = parseTags(form.elements.tags.value);
        body.tags = tags;
      }
      const { matched } = await api(`/datasets/${dataset.id}/bulk/query`, { method: "POST", body: { ...body, dry_run: true } });
      if (!matched) throw new Error("No item matches the filters: nothing to change.");
      bar.querySelector("#bulk-query-question").textContent = question(action, matched, label, tags);
      run.className = action === "delete" ? "danger" : "primary";
      run.textContent = `Yes, ${action === "delete" ? "delete" : action === "tags" ? "tag" : "label"} ${formatNumber(matched)} ${matched === 1 ? "item" : "items"}`;
      ask({ ...body, expected: matched });
      run.focus();
    } catch (error) {
      problem.textContent = error.message;
    }
  });

  run.addEventListener("click", async () => {
    const request = pending;
    if (!request) return;
    ask(null);
    form.querySelector("[type=submit]").disabled = true;
    try {
      const started = await api(`/datasets/${dataset.id}/bulk/query`, { method: "POST", body: request });
      await followRun(dataset.id, started, (state) => showRun(progress, state));
    } catch (error) {
      problem.textContent =
        error.status === 409 ? `The matches changed since they were counted: count again. (${error.message})` : error.message;
    } finally {
      form.querySelector("[type=submit]").disabled = false;
      onDone();
    }
  });

  return {
    // The exact number of matches of the current filters (null while unknown).
    setTotal(count) {
      total = count;
      showTotal();
    },
  };
}
