// A job's state in words: "succeeded 1,801 ✓ · 2 errors", so failed items are never hidden in a total.

import { formatNumber, html } from "./html.js";

export function errorCount(job) {
  return job.metrics?.errors ?? job.progress?.errors ?? 0;
}

export function statusLine(job) {
  const errors = errorCount(job);
  const done = job.progress?.done ?? 0;
  const total = job.progress?.total ?? 0;
  const ok = Math.max(0, done - errors);
  const count = job.status === "succeeded" ? `${formatNumber(ok)} ✓` : `${formatNumber(done)} / ${formatNumber(total)}`;
  return html`<span class="${`status-${job.status}`}">${job.status}</span> <span class="job-count">${count}</span>${errors
    ? html` · <span class="error job-errors">${formatNumber(errors)} ${errors === 1 ? "error" : "errors"}</span>`
    : ""}`;
}
