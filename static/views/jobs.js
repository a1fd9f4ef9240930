// Jobs and comparisons: start one (a dataset, one model or several), and the lists with live
// progress bars, refreshed while anything runs.

import { all, api } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { statusLine } from "../lib/jobs.js";

const ACTIVE = new Set(["queued", "running"]);
const REFRESH_MS = 1500;

function progressBar(p, label) {
  const total = p?.total || 0;
  const done = p?.done || 0;
  const pct = total ? Math.round((100 * done) / total) : 0;
  return html`<progress max="100" value="${pct}" aria-label="${label}">${pct}%</progress>
    <span class="muted">${formatNumber(done)} / ${formatNumber(total)}</span>`;
}

export async function render(root, _params, ctx) {
  const [datasets, models] = await Promise.all([all("/datasets"), all("/models")]);
  const available = models.filter((m) => m.status === "available");
  const names = Object.fromEntries(datasets.map((d) => [d.id, d.name]));
  // What a job needs that the tenant lacks: the form is offered only once both exist.
  const missing = [
    !datasets.length && html`<a href="#/datasets">create a dataset and upload images</a>`,
    !available.length && html`<a href="#/models">register an ONNX model</a>`,
  ].filter(Boolean);
  mount(
    root,
    html`<h1>Jobs and comparisons</h1>
      ${ctx.can("editor") && missing.length
        ? html`<section class="card" id="start-empty"><h2>Run models on a dataset</h2>
            <p>To run a model, first ${missing.length === 2 ? html`${missing[0]} and ${missing[1]}` : missing[0]}; then come back here.</p></section>`
        : ""}
      ${ctx.can("editor") && !missing.length
        ? html`<form class="card" id="start"><h2>Run models on a dataset</h2>
            <div class="row">
              <label>Dataset <select name="dataset" required>${datasets.map((d) => html`<option value="${d.id}">${d.name}</option>`)}</select></label>
              <fieldset><legend>Models (one: a job; several: a comparison)</legend>
                ${available.map((m) => html`<label class="inline"><input type="checkbox" name="model" value="${m.id}"> ${m.name}</label> `)}
              </fieldset>
              <button class="primary" type="submit">Start</button>
            </div><p class="error" id="start-error" role="alert"></p></form>`
        : ""}
      <h2>Comparisons</h2><div id="comparisons"></div>
      <h2>Jobs</h2><div id="jobs"></div>`,
  );
  root.querySelector("#start")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const chosen = [...form.querySelectorAll("[name=model]:checked")].map((c) => c.value);
    const error = root.querySelector("#start-error");
    error.textContent = "";
    if (!chosen.length) {
      error.textContent = "Choose at least one model.";
      return;
    }
    try {
      if (chosen.length === 1) {
        await api("/jobs", { method: "POST", body: { dataset_id: form.dataset.value, model_id: chosen[0] } });
        ctx.toast("Job started");
        refresh();
      } else {
        const comparison = await api("/comparisons", { method: "POST", body: { dataset_id: form.dataset.value, model_ids: chosen } });
        ctx.navigate(`#/comparisons/${comparison.id}`);
      }
    } catch (e) {
      error.textContent = e.message;
    }
  });

  let timer = 0;
  let stopped = false;
  async function refresh() {
    clearTimeout(timer);
    let jobs, comparisons;
    try {
      [jobs, comparisons] = await Promise.all([api("/jobs?limit=100"), api("/comparisons?limit=50")]);
    } catch (error) {
      ctx.toast(error.message, "error");
      return;
    }
    if (stopped) return;
    mount(
      root.querySelector("#comparisons"),
      comparisons.items.length
        ? html`<table><thead><tr><th>Comparison</th><th>Dataset</th><th>Status</th><th>Progress</th></tr></thead><tbody>
            ${comparisons.items.map(
              (c) => html`<tr><td><a href="${`#/comparisons/${c.id}`}">${c.model_ids.length} models · ${c.created_at?.slice(0, 16).replace("T", " ")}</a></td>
                <td>${names[c.dataset_id] ?? c.dataset_id}</td><td class="${`status-${c.status}`}">${c.status}</td>
                <td>${progressBar(c.progress, `Progress of the comparison ${c.id}`)}</td></tr>`,
            )}</tbody></table>`
        : html`<p class="muted">None yet.</p>`,
    );
    mount(
      root.querySelector("#jobs"),
      jobs.items.length
        ? html`<table><thead><tr><th>Model</th><th>Dataset</th><th>Status</th><th>Progress</th><th class="num">Accuracy</th>
            ${ctx.can("editor") ? html`<th><span class="sr">Actions</span></th>` : ""}</tr></thead><tbody>
            ${jobs.items.map(
              (j) => html`<tr><td><a href="${`#/jobs/${j.id}`}">${j.model_name}</a></td><td>${names[j.dataset_id] ?? j.dataset_id}</td>
                <td>${statusLine(j)}${j.error ? html`<div class="error">${j.error}</div>` : ""}</td>
                <td>${progressBar(j.progress, `Progress of ${j.model_name}`)}</td>
                <td class="num">${j.metrics?.accuracy != null ? `${(100 * j.metrics.accuracy).toFixed(1)} %` : ""}</td>
                ${ctx.can("editor") ? html`<td>${ACTIVE.has(j.status) ? html`<button type="button" data-cancel="${j.id}">Cancel</button>` : ""}</td>` : ""}
              </tr>`,
            )}</tbody></table>`
        : html`<p class="muted">None yet.</p>`,
    );
    const running = [...jobs.items, ...comparisons.items].some((x) => ACTIVE.has(x.status));
    if (running) timer = setTimeout(refresh, REFRESH_MS);
  }
  root.querySelector("#jobs").addEventListener("click", async (event) => {
    const id = event.target.dataset.cancel;
    if (!id) return;
    try {
      await api(`/jobs/${id}/cancel`, { method: "POST" });
      refresh();
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
