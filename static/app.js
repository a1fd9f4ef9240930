// The shell: configuration, sign-in, the header, and a hash router that mounts one view at a time.

import { whenExpired } from "./lib/api.js";
import * as auth from "./lib/auth.js";
import { html, mount } from "./lib/html.js";
import { keepScrollablesFocusable } from "./lib/scrollables.js";

const ROUTES = [
  [/^#\/datasets$/, () => import("./views/datasets.js"), []],
  [/^#\/datasets\/([^/]+)$/, () => import("./views/dataset.js"), ["datasetId"]],
  [/^#\/datasets\/([^/]+)\/items\/([^/]+)$/, () => import("./views/item.js"), ["datasetId", "itemId"]],
  [/^#\/datasets\/([^/]+)\/label$/, () => import("./views/label.js"), ["datasetId"]],
  [/^#\/datasets\/([^/]+)\/review$/, () => import("./views/review.js"), ["datasetId"]],
  [/^#\/datasets\/([^/]+)\/similar\/([^/]+)$/, () => import("./views/similar.js"), ["datasetId", "itemId"]],
  [/^#\/datasets\/([^/]+)\/duplicates$/, () => import("./views/duplicates.js"), ["datasetId"]],
  [/^#\/datasets\/([^/]+)\/map$/, () => import("./views/map.js"), ["datasetId"]],
  [/^#\/models$/, () => import("./views/models.js"), []],
  [/^#\/jobs$/, () => import("./views/jobs.js"), []],
  [/^#\/jobs\/([^/]+)$/, () => import("./views/job.js"), ["jobId"]],
  [/^#\/comparisons\/([^/]+)$/, () => import("./views/comparison.js"), ["comparisonId"]],
  [/^#\/admin$/, () => import("./views/admin.js"), []],
  [/^#\/admin\/audit$/, () => import("./views/audit.js"), []],
  [/^#\/account$/, () => import("./views/account.js"), []],
];

const view = document.getElementById("view");
keepScrollablesFocusable(view);
// Skip links must not change the route (the address holds it): they move focus to the view's main
// target instead (the dataset grid's active item), or to the view itself.
document.addEventListener("click", (event) => {
  if (!event.target.closest?.("a.skip")) return;
  event.preventDefault();
  (view.querySelector("[data-skip-target]") || view).focus();
});
const ctx = { me: null, config: null, toast, can, navigate, signInAgain };
let cleanup = null;
let routed = 0; // counts routes, so a view that finishes rendering after the next route began is cleaned up

function can(role) {
  return ctx.me && auth.roleRank(ctx.me.role) >= auth.roleRank(role);
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export function toast(message, kind = "info") {
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.textContent = message;
  document.getElementById("toasts").append(box);
  setTimeout(() => box.remove(), kind === "error" ? 8000 : 3500);
}

function showBanner(message) {
  const banner = document.getElementById("banner");
  mount(banner, html`${message} <button type="button" id="banner-signin">Sign in again</button>`);
  banner.hidden = false;
  banner.querySelector("button").addEventListener("click", signInAgain);
}

function signInAgain() {
  auth.forget();
  ctx.me = null;
  document.getElementById("banner").hidden = true;
  renderSignIn();
}

function renderShell() {
  const nav = document.getElementById("nav");
  nav.hidden = !ctx.me;
  for (const link of nav.querySelectorAll("[data-role]")) link.hidden = !can(link.dataset.role);
  const who = document.getElementById("who");
  who.hidden = !ctx.me;
  if (ctx.me) {
    mount(
      who,
      html`<span><strong>${ctx.me.user}</strong> · tenant <strong>${ctx.me.tenant}</strong> · role
          <strong id="my-role">${ctx.me.role}</strong></span>
        <a href="#/account">Account</a>
        <button type="button" id="sign-out">Sign out</button>`,
    );
    who.querySelector("#sign-out").addEventListener("click", () => {
      const url = auth.signOutUrl(ctx.config.auth);
      auth.signOutEverywhere();
      if (url) location.assign(url);
      else location.reload();
    });
  }
}

function renderSignIn(error = "") {
  renderShell();
  if (ctx.config.auth.mode === "cognito") {
    mount(
      view,
      html`<section class="signin card"><h1>Sign in to Edna</h1>
        <p>Your organisation signs you in.</p>
        <button class="primary" type="button" id="cognito">Continue to sign-in</button>
        <p class="error" role="alert">${error}</p></section>`,
    );
    view.querySelector("#cognito").addEventListener("click", () => auth.startCognito(ctx.config.auth));
    return;
  }
  mount(
    view,
    html`<section class="signin card"><h1>Sign in to Edna</h1>
      <form id="signin-form">
        <label>User name <input name="username" autocomplete="username" required aria-describedby="username-hint"></label>
        <p class="muted" id="username-hint">Invited members sign in as <em>workspace/name</em>, e.g. acme/alice.</p>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <button class="primary" type="submit">Sign in</button>
        <p class="error" role="alert" id="signin-error">${error}</p>
      </form></section>`,
  );
  const form = view.querySelector("form");
  form.username.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    const username = form.username.value.trim();
    try {
      const session = await auth.signInLocal(username, form.password.value);
      await start(session);
    } catch (e) {
      button.disabled = false;
      if (e.status === 403) return renderNewPassword(username, form.password.value);
      form.querySelector("#signin-error").textContent =
        e.status === 401 ? "That user name and password do not match." : e.message;
    }
  });
}

// The API refused a one-time password: it only sets the member's own password, then signs in.
function renderNewPassword(username, oneTime) {
  mount(
    view,
    html`<section class="signin card"><h1>Choose a new password</h1>
      <p id="new-password-why">The password you were given works once: choose your own to finish signing in as
        <strong>${username}</strong>.</p>
      <form id="new-password-form" aria-describedby="new-password-why">
        <label>New password <input name="password" type="password" autocomplete="new-password" required
          minlength="${auth.MIN_PASSWORD}" aria-describedby="new-password-rule"></label>
        <p class="muted" id="new-password-rule">At least ${auth.MIN_PASSWORD} characters.</p>
        <label>Repeat it <input name="again" type="password" autocomplete="new-password" required></label>
        <button class="primary" type="submit">Set password and sign in</button>
        <p class="error" role="alert" id="new-password-error"></p>
      </form></section>`,
  );
  const form = view.querySelector("form");
  form.password.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = form.querySelector("#new-password-error");
    if (form.password.value !== form.again.value) {
      problem.textContent = "The two passwords differ.";
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await start(await auth.changePassword(username, oneTime, form.password.value));
    } catch (e) {
      button.disabled = false;
      problem.textContent = e.message;
    }
  });
}

let expiryTimer = null;

async function start(session) {
  ctx.me = await auth.whoAmI(session);
  clearTimeout(expiryTimer);
  expiryTimer = setTimeout(
    () => showBanner("Your session has ended. Nothing after this point is saved until you sign in again."),
    Math.max(0, session.expiresAt - Date.now()),
  );
  renderShell();
  if (!location.hash || location.hash === "#") location.hash = "#/datasets";
  else route();
}

async function route() {
  if (!ctx.me) return;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    const current = location.hash.startsWith(link.getAttribute("href"));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A route may carry a query after its path (#/datasets/d?label=3): the view gets it as `query`.
  const [path, search = ""] = location.hash.split(/\?(.*)/s);
  const found = ROUTES.map(([pattern, load, names]) => [path.match(pattern), load, names]).find(([m]) => m);
  if (!found) {
    location.hash = "#/datasets";
    return;
  }
  const [match, load, names] = found;
  const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
  params.query = Object.fromEntries(new URLSearchParams(search));
  // Each route renders into its own holder: a slow view finishing late writes into a detached one.
  const holder = document.createElement("div");
  view.replaceChildren(holder);
  mount(holder, html`<p class="muted">Loading…</p>`);
  const mine = ++routed;
  try {
    const module = await load();
    const done = (await module.render(holder, params, ctx)) || null;
    if (mine !== routed) return done?.(); // another route started meanwhile: this view is already gone
    cleanup = done;
  } catch (error) {
    if (error.status === 401 || mine !== routed) return;
    mount(holder, html`<h1>Something went wrong</h1><p class="error" role="alert">${error.message}</p>`);
  }
  view.focus({ preventScroll: true });
}

async function boot() {
  try {
    ctx.config = await auth.loadConfig();
  } catch (error) {
    mount(view, html`<p class="error" role="alert">${error.message}</p>`);
    return;
  }
  whenExpired((message) => showBanner(message));
  auth.whenSignedOutElsewhere(() => location.reload());
  window.addEventListener("hashchange", route);
  try {
    const session =
      (ctx.config.auth.mode === "cognito" && (await auth.finishCognito(ctx.config.auth))) ||
      auth.storedSession() ||
      (await auth.sessionFromOpenTabs());
    if (session) return await start(session);
  } catch (error) {
    auth.forget();
    return renderSignIn(error.message);
  }
  renderSignIn();
}

boot();
