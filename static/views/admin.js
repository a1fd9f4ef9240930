// Admin: the tenant's members: invite (a one-time password to hand over), change roles, remove;
// its applications; its usage.

import { all, api } from "../lib/api.js";
import { ROLES } from "../lib/auth.js";
import { formatBytes, formatNumber, html, mount } from "../lib/html.js";
import { renderApplications } from "../parts/applications.js";

function usageTable(u) {
  const rows = [
    ["API requests", formatNumber(u.requests.total)],
    ["refused (4xx) / failed (5xx)", `${formatNumber(u.requests["4xx"])} / ${formatNumber(u.requests["5xx"])}`],
    ["uploads", `${formatNumber(u.uploads.items)} (${formatBytes(u.uploads.bytes)})`],
    ["stored now", `${formatNumber(u.stored.items)} items (${formatBytes(u.stored.bytes)})`],
    ["inference", `${formatNumber(u.inference.jobs)} jobs, ${formatNumber(u.inference.items)} items, ${u.inference.seconds} s`],
  ];
  return html`<h2>Usage from ${u.from.slice(0, 10)} to now</h2>
    <table aria-label="Usage"><tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td class="num">${v}</td></tr>`)}</tbody></table>`;
}

export async function render(root, params, ctx) {
  if (!ctx.can("admin")) {
    mount(root, html`<h1>Admin</h1><p>Only admins manage members.</p>`);
    return;
  }
  let members;
  let usage = null;
  try {
    [members, usage] = await Promise.all([all("/members"), api("/usage").catch(() => null)]);
  } catch (error) {
    mount(root, html`<h1>Members</h1><p class="error" role="alert">${error.message}</p>`);
    return;
  }
  mount(
    root,
    html`<h1>Members of ${ctx.me.tenant}</h1>
      <p><a href="#/admin/audit" id="audit-link">Audit trail: who changed what, and when</a></p>
      <form class="row card" id="invite">
        <label>User name <input name="username" required></label>
        <label>E-mail <input name="email" type="email" required></label>
        <label>Role <select name="role">${ROLES.map((r) => html`<option>${r}</option>`)}</select></label>
        <button class="primary" type="submit">Invite</button>
        <p id="invited" role="status"></p>
      </form>
      <table><thead><tr><th>User</th><th>E-mail</th><th>Role</th><th><span class="sr">Actions</span></th></tr></thead><tbody>
        ${members.map(
          (m) => html`<tr><td>${m.username}</td><td>${m.email}</td>
            <td><label><span class="sr">${`Role of ${m.username}`}</span><select data-role="${m.username}">
              ${ROLES.map((r) => html`<option ${r === m.role ? "selected" : ""}>${r}</option>`)}</select></label></td>
            <td><button class="danger" type="button" data-remove="${m.username}">Remove</button></td></tr>`,
        )}</tbody></table>
      <section id="applications"></section>
      ${usage ? usageTable(usage) : ""}`,
  );
  renderApplications(root.querySelector("#applications"), ctx);
  root.querySelector("#invite").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      const answer = await api("/members", {
        method: "POST",
        body: { username: form.username.value.trim(), email: form.email.value.trim(), role: form.role.value },
      });
      const secret = answer.temporary_password || answer.password;
      await render(root, params, ctx);
      root.querySelector("#invited").textContent = secret
        ? `Invited ${answer.username ?? form.username.value}. One-time password (shown once): ${secret}. ` +
          `They sign in as ${answer.sign_in_name} with it, then choose their own.`
        : `Invited ${answer.username ?? form.username.value}. They sign in as ${answer.sign_in_name} with the ` +
          `password e-mailed to them.`;
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  for (const select of root.querySelectorAll("[data-role]")) {
    select.addEventListener("change", async () => {
      try {
        await api(`/members/${encodeURIComponent(select.dataset.role)}`, { method: "PATCH", body: { role: select.value } });
        ctx.toast(`${select.dataset.role} is now ${select.value}`);
      } catch (error) {
        ctx.toast(error.message, "error");
        render(root, params, ctx);
      }
    });
  }
  for (const button of root.querySelectorAll("[data-remove]")) {
    button.addEventListener("click", async () => {
      const who = button.dataset.remove;
      if (!confirm(`Remove ${who} from ${ctx.me.tenant}?`)) return;
      try {
        await api(`/members/${encodeURIComponent(who)}`, { method: "DELETE" });
        render(root, params, ctx);
      } catch (error) {
        ctx.toast(error.message, "error");
      }
    });
  }
}
