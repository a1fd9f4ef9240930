// The audit trail for admins: every change made in the tenant (who, what, on what, when, how it
// ended), filtered by person, action and period, oldest first, a page at a time (GET /api/audit).

import { api, query } from "../lib/api.js";
import { html, mount } from "../lib/html.js";

const PAGE = 50;
const MAX_PAGE = 1000; // the API's largest page

function day(offset) {
  return new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
}

function targetText(target = {}) {
  return Object.entries(target)
    .map(([k, v]) => `${k.replace(/_id$/, "")} ${v}`)
    .join(", ");
}

export async function render(root, { query: asked = {} }, ctx) {
  if (!ctx.can("admin")) {
    mount(root, html`<h1>Audit trail</h1><p>Only admins read the audit trail. <a href="#/datasets">Back to the datasets</a>.</p>`);
    return;
  }
  const filters = { actor: asked.actor ?? "", action: asked.action ?? "", from: asked.from ?? day(-7), to: asked.to ?? "" };
  // The address may ask for another page size (?limit=), kept when the filters change.
  const limit = Math.min(MAX_PAGE, Math.max(1, Number.parseInt(asked.limit, 10) || PAGE));
  mount(
    root,
    html`<p><a href="#/admin">← Admin</a></p>
      <h1>Audit trail of ${ctx.me.tenant}</h1>
      <form class="row" id="audit-filters" role="search" aria-label="Filter the audit trail">
        <label>Person <input name="actor" value="${filters.actor}" placeholder="any" autocomplete="off"></label>
        <label>Action <input name="action" value="${filters.action}" placeholder="e.g. DELETE /api/datasets/{dataset_id}" size="34" autocomplete="off"></label>
        <label>From <input name="from" type="date" value="${filters.from}"></label>
        <label>To (before) <input name="to" type="date" value="${filters.to}"></label>
        <button class="primary" type="submit">Show</button>
      </form>
      <p id="audit-state" class="muted" aria-live="polite"></p>
      <div class="scroll-x"><table id="audit" aria-label="Audit entries"><thead><tr><th>When (UTC)</th><th>Who</th><th>Action</th><th>Target</th><th>Outcome</th></tr></thead>
        <tbody id="audit-rows"></tbody></table></div>
      <p><button type="button" id="audit-more" hidden>Show later entries</button></p>`,
  );
  const rows = root.querySelector("#audit-rows");
  const more = root.querySelector("#audit-more");
  const stateText = root.querySelector("#audit-state");
  let cursor = null;
  let shown = 0;

  async function load(first) {
    if (first) {
      rows.replaceChildren();
      cursor = null;
      shown = 0;
    }
    stateText.textContent = "Loading…";
    more.hidden = true;
    try {
      const params = { ...filters, limit, cursor };
      const page = await api(`/audit${query(params)}`);
      const body = document.createElement("tbody");
      mount(
        body,
        page.items.map(
          (e) => html`<tr><td>${e.time.slice(0, 19).replace("T", " ")}</td><td>${e.actor}</td><td><code>${e.action}</code></td>
            <td>${targetText(e.target)}</td><td class="${e.outcome === "ok" ? "ok" : "error"}">${e.outcome} (${e.status})</td></tr>`,
        ),
      );
      rows.append(...body.children);
      shown += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      stateText.textContent = shown
        ? `${shown} ${shown === 1 ? "entry" : "entries"} shown, oldest first${cursor ? "; later ones follow" : ""}.`
        : "No entries match: widen the period or clear the person and action.";
    } catch (error) {
      stateText.textContent = error.message;
    }
  }

  root.querySelector("#audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    for (const name of Object.keys(filters)) filters[name] = form.elements[name].value.trim();
    const kept = Object.fromEntries(Object.entries({ ...filters, limit: asked.limit }).filter(([, v]) => v));
    history.replaceState(null, "", `#/admin/audit${query(kept)}`);
    load(true);
  });
  more.addEventListener("click", () => load(false));
  await load(true);
}
