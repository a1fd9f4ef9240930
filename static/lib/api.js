// Every call to the API goes through here: the token, the error body, expiry.

let token = null;
let expiresAt = 0;
let onExpired = () => {};
const ENDED = "Your session has ended. Sign in again to continue; nothing was saved after it ended.";

export class ApiError extends Error {
  constructor(status, message, errors) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

// The token and when it ends: from then on nothing is sent with it (the server's few seconds of
// leeway would otherwise save what the page already says is not saved).
export function setToken(value, until = 0) {
  token = value;
  expiresAt = until;
}

export function whenExpired(callback) {
  onExpired = callback;
}

// The API's error body is {code, status, message, errors}: turn it into words a person can act on.
function explain(status, body) {
  const detail = body && typeof body === "object" ? body : {};
  const fields = detail.errors?.json ?? detail.errors?.query ?? null;
  let message = detail.message || "";
  if (fields && typeof fields === "object") {
    const parts = Object.entries(fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`);
    if (parts.length) message = `${message ? message + " — " : ""}${parts.join("; ")}`;
  }
  const fallback = {
    400: "The request was not accepted.",
    401: "Your session has ended. Please sign in again.",
    403: "Your role does not allow this.",
    404: "Not found (it may have been deleted).",
    409: "Someone changed this at the same time. Reload and try again.",
    413: "That is too large.",
    422: "Some values are not valid.",
    429: "Too many requests or a quota is reached. Try again later.",
    503: "Storage or a service is unavailable right now. Try again shortly.",
  };
  return message || fallback[status] || `The server answered ${status}.`;
}

// `anonymous`: sent without the token (sign-in, password change), so its 401 is a wrong password,
// not an ended session.
export async function api(path, { method = "GET", body, signal, raw = false, anonymous = false } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = anonymous ? null : token;
  if (bearer && expiresAt && Date.now() >= expiresAt) {
    onExpired(ENDED);
    throw new ApiError(401, ENDED);
  }
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.");
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && bearer) onExpired(data?.message || ENDED);
    throw new ApiError(response.status, explain(response.status, data), data?.errors);
  }
  return data;
}

// Every page of a list, following next_cursor.
export async function* pages(path, { limit = 100, signal } = {}) {
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const query = `${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await api(path + query, { signal });
    yield page.items;
    cursor = page.next_cursor;
  } while (cursor);
}

export async function all(path, options) {
  const out = [];
  for await (const items of pages(path, options)) out.push(...items);
  return out;
}

export function query(params) {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
}
