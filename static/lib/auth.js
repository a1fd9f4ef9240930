// Sign-in: the local issuer's password form, or Cognito's hosted UI (authorization code + PKCE).
// The token lives in memory and sessionStorage (this tab), never in localStorage or a cookie: it ends
// with the browser's tabs. A tab opened without one (a link opened in a new tab) asks the open tabs of
// this origin for theirs over a BroadcastChannel; signing out in one tab signs out every tab.
// Expiry asks to sign in again.

import { api, setToken } from "./api.js";

const KEY = "edna.session";
const PKCE_KEY = "edna.pkce";
const ASK_MS = 300; // how long a new tab waits for an open one to answer
const channel = "BroadcastChannel" in window ? new BroadcastChannel("edna.session") : null;
let onSignedOut = () => {};
export const ROLES = ["viewer", "labeler", "editor", "admin"];

export function roleRank(role) {
  return ROLES.indexOf(role);
}

export async function loadConfig() {
  const response = await fetch("/config.json", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error("The site's configuration (config.json) is missing.");
  return response.json();
}

function remember(token, expiresIn) {
  const session = { token, expiresAt: Date.now() + expiresIn * 1000 };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

// Answer other tabs: share this tab's live session when asked; follow a sign-out made elsewhere.
channel?.addEventListener("message", ({ data }) => {
  if (data?.type === "ask") {
    const session = storedSession();
    if (session) channel.postMessage({ type: "session", session });
  } else if (data?.type === "signed-out") {
    forget();
    onSignedOut();
  }
});

export function whenSignedOutElsewhere(callback) {
  onSignedOut = callback;
}

// A session from another open tab of this app, kept for this tab too; null when none answers.
export function sessionFromOpenTabs() {
  if (!channel) return Promise.resolve(null);
  return new Promise((resolve) => {
    const answer = ({ data }) => {
      if (data?.type !== "session" || !(data.session?.expiresAt > Date.now() + 5000)) return;
      finish(data.session);
    };
    const finish = (session) => {
      clearTimeout(timer);
      channel.removeEventListener("message", answer);
      if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
      resolve(session);
    };
    const timer = setTimeout(() => finish(null), ASK_MS);
    channel.addEventListener("message", answer);
    channel.postMessage({ type: "ask" });
  });
}

// Sign out here and in every other open tab.
export function signOutEverywhere() {
  forget();
  channel?.postMessage({ type: "signed-out" });
}

export function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return session && session.expiresAt > Date.now() + 5000 ? session : null;
  } catch {
    return null;
  }
}

export function forget() {
  sessionStorage.removeItem(KEY);
  setToken(null);
}

// Who the token belongs to: {user, tenant, roles, role} with role the highest of roles.
export async function whoAmI(session) {
  setToken(session.token, session.expiresAt);
  const me = await api("/me");
  const role = [...me.roles].sort((a, b) => roleRank(b) - roleRank(a))[0] || "viewer";
  return { ...me, role, expiresAt: session.expiresAt };
}

export async function signInLocal(username, password) {
  const answer = await api("/auth/token", { method: "POST", body: { username, password }, anonymous: true });
  return remember(answer.access_token, answer.expires_in);
}

// A new password given the current (or one-time) one; the answer is a fresh session.
export async function changePassword(username, password, newPassword) {
  const body = { username, password, new_password: newPassword };
  const answer = await api("/auth/password", { method: "POST", body, anonymous: true });
  return remember(answer.access_token, answer.expires_in);
}

export const MIN_PASSWORD = 12;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

export async function startCognito(auth) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: auth.clientId,
    redirect_uri: auth.redirectUri,
    scope: "openid email profile",
    code_challenge_method: "S256",
    code_challenge: challenge,
    state,
  });
  location.assign(`${auth.domain}/oauth2/authorize?${params}`);
}

// Back from the hosted UI with ?code=&state=: trade the code for tokens (the ID token carries the tenant).
export async function finishCognito(auth) {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code) return null;
  const pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", location.pathname + location.hash);
  if (!pkce || pkce.state !== params.get("state")) throw new Error("The sign-in answer did not match; sign in again.");
  const response = await fetch(`${auth.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: auth.clientId,
      code,
      redirect_uri: auth.redirectUri,
      code_verifier: pkce.verifier,
    }),
  });
  if (!response.ok) throw new Error("Cognito refused the sign-in code; sign in again.");
  const tokens = await response.json();
  return remember(tokens.id_token, tokens.expires_in);
}

export function signOutUrl(auth) {
  if (auth.mode !== "cognito") return null;
  const params = new URLSearchParams({ client_id: auth.clientId, logout_uri: auth.redirectUri });
  return `${auth.domain}/logout?${params}`;
}
