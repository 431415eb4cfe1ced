// Talking to the API: the deployment's API key (when keys are on) and JSON errors as exceptions.

const STORAGE_KEY = "pdfline.api_key";
const fromUrl = new URLSearchParams(window.location.search).get("api_key");
if (fromUrl) localStorage.setItem(STORAGE_KEY, fromUrl);

let onUnauthorized = () => {};

export function apiKey() {
  return localStorage.getItem(STORAGE_KEY);
}

export function setApiKey(key) {
  localStorage.setItem(STORAGE_KEY, key);
}

/** Called when the API answers 401: the page asks for a key. */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/** An EventSource cannot send headers, so the key rides in the query string. */
export function withKey(url) {
  const key = apiKey();
  return key ? `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(key)}` : url;
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** fetch() with the key as a Bearer token; the JSON body back, or an ApiError with the API's type. */
export async function request(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the API could not be reached: ${error.message}`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    const detail = (body && body.error) || {};
    throw new ApiError(response.status, detail.type || "http_error", detail.message || `HTTP ${response.status}`);
  }
  return body;
}
