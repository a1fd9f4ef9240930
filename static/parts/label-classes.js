// The dataset's label classes, for editors: add and remove (PATCH /datasets/{d}), rename (POST
// label-classes/rename: a run that relabels the class's items, followed with a progress bar).

import { api } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { followRun, showRun } from "../lib/runs.js";

// `onChanged()` runs once the classes (and, after a rename, the items' labels) have changed.
export function labelClasses(holder, dataset, { onChanged, toast }) {
  const classes = [...(dataset.label_classes || [])];
  const counts = dataset.label_counts || {};
  mount(
    holder,
    html`<details class="card" id="classes"><summary>Label classes (${formatNumber(classes.length)})</summary>
      ${classes.length
        ? html`<ul class="class-list" id="class-list">${classes.map(
            (c) => html`<li><span class="chip">${c}</span> <span class="muted">${formatNumber(counts[c] ?? 0)} items</span>
              <button type="button" class="small" data-rename="${c}" aria-label="${`Rename ${c}`}">Rename</button>
              <button type="button" class="small" data-remove="${c}" aria-label="${`Remove ${c}`}">Remove</button></li>`,
          )}</ul>`
        : html`<p class="muted">No classes yet: any label is accepted. Add classes to offer them as choices (and keys) and to
            refuse other labels.</p>`}
      <form class="row" id="rename-form" hidden>
        <label><span id="rename-title">New name</span> <input name="to" required autocomplete="off"></label>
        <button type="submit" class="primary">Rename</button><button type="button" id="rename-cancel">Cancel</button>
      </form>
      <form class="row" id="add-class-form">
        <label>New class <input name="name" required autocomplete="off"></label>
        <button type="submit">Add class</button>
      </form>
      <p class="error" id="classes-error" role="alert"></p>
      <div id="rename-progress"></div></details>`,
  );
  const $ = (selector) => holder.querySelector(selector);
  const problem = $("#classes-error");
  const renameForm = $("#rename-form");
  let renaming = null;

  async function save(next) {
    await api(`/datasets/${dataset.id}`, { method: "PATCH", body: { label_classes: next } });
    onChanged();
  }

  $("#class-list")?.addEventListener("click", async (event) => {
    const { rename, remove } = event.target.dataset;
    problem.textContent = "";
    if (rename !== undefined) {
      renaming = rename;
      $("#rename-title").textContent = `New name for “${rename}”`;
      renameForm.hidden = false;
      renameForm.elements.to.value = rename;
      renameForm.elements.to.select();
      return;
    }
    if (remove === undefined) return;
    const n = counts[remove] ?? 0;
    const warning = n ? ` ${formatNumber(n)} items keep it as their label until you change them.` : "";
    if (!confirm(`Remove the class “${remove}”?${warning}`)) return;
    try {
      await save(classes.filter((c) => c !== remove));
      toast(`Class ${remove} removed`);
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  $("#rename-cancel").addEventListener("click", () => {
    renaming = null;
    renameForm.hidden = true;
  });
  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = renameForm.elements.to.value.trim();
    problem.textContent = "";
    if (!renaming || to === renaming) return;
    renameForm.querySelector("[type=submit]").disabled = true;
    try {
      const started = await api(`/datasets/${dataset.id}/label-classes/rename`, { method: "POST", body: { from: renaming, to } });
      const run = await followRun(dataset.id, started, (state) => showRun($("#rename-progress"), state));
      const relabelled = Math.max(0, (run.progress?.done ?? 0) - (run.failed ?? 0));
      const clean = run.status === "succeeded" && !run.failed;
      // Items left behind still carry the old label: the grid's label filter finds them.
      toast(
        clean
          ? `Renamed ${renaming} to ${to}: ${formatNumber(relabelled)} items relabelled`
          : `Renamed ${renaming} to ${to}, but items labelled ${renaming} remain: filter by it to relabel them`,
        clean ? "info" : "error",
      );
      onChanged();
    } catch (error) {
      problem.textContent = error.message;
      renameForm.querySelector("[type=submit]").disabled = false;
    }
  });
  $("#add-class-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = event.target.elements.name.value.trim();
    problem.textContent = "";
    if (classes.includes(name)) {
      problem.textContent = `“${name}” is a class already.`;
      return;
    }
    try {
      await save([...classes, name]);
      toast(`Class ${name} added`);
    } catch (error) {
      problem.textContent = error.message;
    }
  });
}
