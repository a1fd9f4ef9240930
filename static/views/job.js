// One job: its state with the count of items that failed, its metrics, precision and recall per
// class, and every failed item with its reason (GET /api/jobs/{id}/predictions?errors=true).

import { api, query } from "../lib/api.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { errorCount, statusLine } from "../lib/jobs.js";

const REFRESH_MS = 1500;
const ACTIVE = new Set(["queued", "running"]);
const pct = (v) => (v == null ? "" : `${(100 * v).toFixed(2)} %`);

export async function render(root, { jobId }, ctx) {
  let timer = 0;
  let stopped = false;
  const errors = { items: [], cursor: null, more: true, loading: false };

  async function loadErrors() {
    if (errors.loading || !errors.more) return;
    errors.loading = true;
    try {
      const page = await api(`/jobs/${jobId}/predictions${query({ errors: "true", limit: 100, cursor: errors.cursor })}`);
      errors.items.push(...page.items);
      errors.cursor = page.next_cursor;
      errors.more = Boolean(page.next_cursor);
    } catch (error) {
      errors.more = false;
      ctx.toast(error.message, "error");
    } finally {
      errors.loading = false;
    }
  }

  function errorList(job) {
    if (!errorCount(job)) return html`<p class="muted">No item failed.</p>`;
    return html`<table class="errors-list" id="job-errors"><thead><tr><th>Item</th><th>Reason</th></tr></thead><tbody>
      ${errors.items.map(
        (e) => html`<tr><td>${e.item_id ? html`<a href="${`#/datasets/${job.dataset_id}/items/${e.item_id}`}">${e.filename ?? e.item_id}</a>` : (e.filename ?? "")}</td>
          <td class="error">${e.error}</td></tr>`,
      )}</tbody></table>
      ${errors.more ? html`<button type="button" id="more-errors">Show more errors</button>` : ""}`;
  }

  async function draw() {
    const job = await api(`/jobs/${jobId}`);
    if (stopped) return;
    if (errorCount(job) && !errors.items.length && errors.more && !ACTIVE.has(job.status)) await loadErrors();
    const m = job.metrics || {};
    const perClass = Object.entries(m.per_class || {});
    mount(
      root,
      html`<p><a href="#/jobs">← Jobs and comparisons</a></p>
        <h1>${job.model_name}</h1>
        <p id="job-status" class="job-status">${statusLine(job)}
          <progress max="100" value="${job.progress?.total ? Math.round((100 * job.progress.done) / job.progress.total) : 0}" aria-label="Job progress"></progress></p>
        ${job.error ? html`<p class="error" role="alert">${job.error}</p>` : ""}
        <p><a href="${`#/datasets/${job.dataset_id}?model=${encodeURIComponent(job.model_id)}`}">The dataset's items with this model's predictions</a>
          ${job.comparison_id ? html` · <a href="${`#/comparisons/${job.comparison_id}`}">its comparison</a>` : ""}</p>
        ${m.accuracy != null
          ? html`<dl class="meta"><dt>Accuracy</dt><dd>${pct(m.accuracy)}</dd><dt>Macro-F1</dt><dd>${pct(m.macro_f1)}</dd>
              <dt>Evaluated</dt><dd>${formatNumber(m.evaluated)} labelled items</dd>
              <dt>Speed</dt><dd>${m.items_per_second ? `${formatNumber(Math.round(m.items_per_second))} items / s` : ""}</dd></dl>`
          : ""}
        ${perClass.length
          ? html`<h2>Precision and recall per class</h2><div class="scroll-x"><table id="job-per-class"><thead><tr><th>Class</th><th class="num">Items</th>
              <th class="num">Precision</th><th class="num">Recall</th><th class="num">F1</th></tr></thead><tbody>
              ${perClass.map(([name, c]) => html`<tr><th scope="row">${name}</th><td class="num">${formatNumber(c.support)}</td>
                <td class="num">${pct(c.precision)}</td><td class="num">${pct(c.recall)}</td><td class="num">${pct(c.f1)}</td></tr>`)}
              </tbody></table></div>`
          : ""}
        <h2>Items that failed${errorCount(job) ? ` (${formatNumber(errorCount(job))})` : ""}</h2>
        ${ACTIVE.has(job.status) && errorCount(job) ? html`<p class="muted">The list appears when the job has finished.</p>` : errorList(job)}`,
    );
    root.querySelector("#more-errors")?.addEventListener("click", async () => {
      await loadErrors();
      draw();
    });
    if (ACTIVE.has(job.status)) timer = setTimeout(draw, REFRESH_MS);
  }
  await draw();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
