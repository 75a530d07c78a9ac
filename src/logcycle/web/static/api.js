// The JSON API, called with the key kept in sessionStorage (this tab only). The key goes
// in the Authorization header, never in a URL.

const STORAGE = 'logcycle.key';

export const getKey = () => sessionStorage.getItem(STORAGE);
export const setKey = (key) => sessionStorage.setItem(STORAGE, key);
export const clearKey = () => sessionStorage.removeItem(STORAGE);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};
/** Called when the server stops accepting the key (revoked while signed in). */
export function onUnauthorized(fn) { unauthorized = fn; }
export function signalUnauthorized() { unauthorized(); }

export function url(path, params = {}) {
  const u = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') u.searchParams.set(name, String(value));
  }
  return u;
}

export function authHeaders(key = getKey()) {
  return { Authorization: `Bearer ${key}` };
}

/** GET a JSON route; throws ApiError with the server's message. */
export async function api(path, params = {}, { signal, key } = {}) {
  const res = await fetch(url(path, params), {
    headers: { ...authHeaders(key ?? getKey()), Accept: 'application/json' },
    signal, cache: 'no-store', credentials: 'omit',
  });
  if (!res.ok) {
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const body = await res.json();
      message = body?.error?.message ?? message;
    } catch { /* 401 has an empty body */ }
    if (res.status === 401 && key === undefined) unauthorized();
    throw new ApiError(res.status, message);
  }
  return res.json();
}
