// Account: who you are, and a new password (local sign-in; Cognito's own pages handle it otherwise).

import { setToken } from "../lib/api.js";
import { changePassword, MIN_PASSWORD } from "../lib/auth.js";
import { html, mount } from "../lib/html.js";

export async function render(root, params, ctx) {
  const { user, tenant, role } = ctx.me;
  if (ctx.config.auth.mode !== "local") {
    mount(
      root,
      html`<h1>Your account</h1><p>${user} · ${tenant} · ${role}</p>
        <p>Your organisation's sign-in page manages your password.</p>`,
    );
    return;
  }
  mount(
    root,
    html`<h1>Your account</h1>
      <p>You are <strong>${user}</strong> in <strong>${tenant}</strong> as <strong>${role}</strong>;
        you sign in as <strong>${tenant}/${user}</strong>.</p>
      <form class="card" id="password-form">
        <h2>Change your password</h2>
        <label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
        <label>New password <input name="password" type="password" autocomplete="new-password" required
          minlength="${MIN_PASSWORD}" aria-describedby="password-rule"></label>
        <p class="muted" id="password-rule">At least ${MIN_PASSWORD} characters, not the current one.</p>
        <label>Repeat it <input name="again" type="password" autocomplete="new-password" required></label>
        <button class="primary" type="submit">Change password</button>
        <p id="password-status" role="status"></p>
      </form>`,
  );
  const form = root.querySelector("#password-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = form.querySelector("#password-status");
    status.className = "error";
    if (form.password.value !== form.again.value) {
      status.textContent = "The two new passwords differ.";
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const session = await changePassword(`${tenant}/${user}`, form.current.value, form.password.value);
      setToken(session.token);
      form.reset();
      status.className = "";
      status.textContent = "Your password is changed.";
    } catch (error) {
      status.textContent = error.status === 401 ? "The current password is not right." : error.message;
    } finally {
      button.disabled = false;
    }
  });
}
