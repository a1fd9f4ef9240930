// Applications (service accounts) on the Admin screen: create one (its secret shown once), see when
// each was last used, revoke at once.

import { all, api } from "../lib/api.js";
import { ROLES } from "../lib/auth.js";
import { html, mount } from "../lib/html.js";

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "never";
}

function row(app) {
  const scope = app.dataset_ids ? `${app.dataset_ids.length} dataset(s)` : "whole workspace";
  return html`<tr><td>${app.name}</td><td>${app.role}</td><td>${scope}</td><td><code>${app.client_id}</code></td>
    <td>${when(app.last_used_at)}</td><td>${app.expires_at ? when(app.expires_at) : "never"}</td>
    <td><button class="danger" type="button" data-revoke="${app.id}" data-name="${app.name}">Revoke</button></td></tr>`;
}

export async function renderApplications(root, ctx) {
  let apps;
  try {
    apps = await all("/service-accounts");
  } catch (error) {
    mount(root, html`<h2>Applications</h2><p class="error" role="alert">${error.message}</p>`);
    return;
  }
  mount(
    root,
    html`<h2>Applications</h2>
      <p class="muted">Pipelines sign in with a client id and secret, never with a person's password.</p>
      <form class="row card" id="new-application">
        <label>Name <input name="name" required maxlength="200"></label>
        <label>Role <select name="role">${ROLES.map((r) => html`<option ${r === "editor" ? "selected" : ""}>${r}</option>`)}</select></label>
        <label>Expires <input name="expires" type="date"></label>
        <button class="primary" type="submit">Create application</button>
      </form>
      <div id="application-secret" role="status"></div>
      <table aria-label="Applications"><thead><tr><th>Name</th><th>Role</th><th>Reaches</th><th>Client id</th>
        <th>Last used</th><th>Expires</th><th><span class="sr">Actions</span></th></tr></thead>
        <tbody>${apps.length ? apps.map(row) : html`<tr><td colspan="7" class="muted">No applications yet.</td></tr>`}</tbody></table>`,
  );
  root.querySelector("#new-application").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { name: form.name.value.trim(), role: form.role.value };
    if (form.expires.value) body.expires_at = new Date(`${form.expires.value}T23:59:59`).toISOString();
    try {
      const made = await api("/service-accounts", { method: "POST", body });
      await renderApplications(root, ctx);
      mount(
        root.querySelector("#application-secret"),
        html`<div class="card"><p><strong>${made.name}</strong> is ready. Copy its secret now: it is shown only once.</p>
          <dl><dt>client id</dt><dd><code id="new-client-id">${made.client_id}</code></dd>
          <dt>client secret</dt><dd><code id="new-client-secret">${made.client_secret}</code></dd>
          <dt>token URL</dt><dd><code>${made.token_url}</code></dd></dl></div>`,
      );
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  for (const button of root.querySelectorAll("[data-revoke]")) {
    button.addEventListener("click", async () => {
      if (!confirm(`Revoke ${button.dataset.name}? Its tokens stop working at once.`)) return;
      try {
        await api(`/service-accounts/${encodeURIComponent(button.dataset.revoke)}`, { method: "DELETE" });
        renderApplications(root, ctx);
      } catch (error) {
        ctx.toast(error.message, "error");
      }
    });
  }
}
