// A bulk-by-query run (POST /bulk/query, a class rename) followed to its end, and its state in words.

import { api } from "./api.js";
import { formatNumber, html, mount } from "./html.js";

const POLL_MS = 500;
const FINISHED = new Set(["succeeded", "failed"]);

// Poll the run until it finishes; `onChange(run)` sees every state on the way (the first one too).
export async function followRun(datasetId, run, onChange) {
  onChange(run);
  while (!FINISHED.has(run.status)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    run = await api(`/datasets/${datasetId}/bulk/query/${run.id}`);
    onChange(run);
  }
  return run;
}

const DONE_WORDS = { label: "labelled", tags: "tagged", delete: "deleted" };

// A progress bar and a line ("412 of 1,234 labelled"), then what failed, into `holder`.
export function showRun(holder, run) {
  const total = run.progress?.total ?? run.matched ?? 0;
  const done = run.progress?.done ?? 0;
  const ok = Math.max(0, done - (run.failed ?? 0));
  const words = DONE_WORDS[run.action] ?? "done";
  const line =
    run.status === "succeeded"
      ? `${formatNumber(ok)} ${ok === 1 ? "item" : "items"} ${words}.`
      : run.status === "failed"
        ? `Stopped after ${formatNumber(done)} of ${formatNumber(total)}: the run failed.`
        : run.status === "queued"
          ? "Waiting to start…"
          : `${formatNumber(done)} of ${formatNumber(total)} ${words}…`;
  mount(
    holder,
    html`<progress class="run-progress" max="${Math.max(total, 1)}" value="${total ? done : run.status === "succeeded" ? 1 : 0}"
        aria-label="Progress of the bulk change">${done}</progress>
      <p class="${run.status === "failed" ? "error" : run.status === "succeeded" ? "ok" : ""}" role="status">${line}</p>
      ${run.failed
        ? html`<p class="error">${formatNumber(run.failed)} ${run.failed === 1 ? "item" : "items"} failed${run.errors?.length ? ":" : "."}</p>
            <ul class="run-errors">${(run.errors || []).map((e) => html`<li><code>${e.item_id}</code> ${e.error}</li>`)}</ul>`
        : ""}`,
  );
}
