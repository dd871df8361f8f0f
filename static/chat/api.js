// The REST API as the page calls it, and its one error shape.

// Every name an error may point at that the page places next to a field: the settings PATCH
// body's keys and the parameters' keys (the settings form's fields).
export const NUMBER_SETTINGS = ["max_tokens", "temperature", "top_p", "top_k", "thinking_budget", "context_budget"];
const FIELD_NAMES = new Set(["model", "system", ...NUMBER_SETTINGS, "stop_sequences", "thinking", "effort", "cache_ttl"]);

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", fields = {} } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields; // field name -> [messages]; "" for those naming no known field
  }
}

// Same session as the page; Django's CSRF token rides along on writes.
export async function api(method, url, payload) {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  // Every write carries the token, a body or not (a DELETE has none).
  if (!["GET", "HEAD"].includes(method)) options.headers["X-CSRFToken"] = csrfToken();
  if (payload !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(payload);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError("Could not reach the server. Check the connection and try again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON (e.g. an HTML error page)
  }
  if (!response.ok) {
    const error = data?.error || {};
    const fields = {};
    collectFieldErrors(error.fields, "", fields);
    throw new ApiError(error.message || `The server answered ${response.status}.`, { status: response.status, code: error.code || "", fields });
  }
  return data;
}

// Field errors may be flat ({"temperature": [...]}) or nested ({"parameters": {...}}): each
// message goes to the nearest name the settings form knows ("" when none).
function collectFieldErrors(value, name, into) {
  if (typeof value === "string") {
    (into[name] ||= []).push(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectFieldErrors(item, name, into);
  } else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) collectFieldErrors(item, FIELD_NAMES.has(key) ? key : name, into);
  }
}

export function csrfToken() {
  return document.querySelector('input[name="csrfmiddlewaretoken"]')?.value || "";
}
