// Display preferences that outlive the tab (time zone, columns, facets), in localStorage.
// Only the names below can be stored: the API key never goes here (it stays in the tab's
// sessionStorage, api.js), and tests check that no other script touches localStorage.

const NAMES = new Set(['zone', 'columns', 'facets']);
const PREFIX = 'logcycle.';

/** The stored value of a preference (parsed JSON), or `fallback`. */
export function loadPref(name, fallback) {
  if (!NAMES.has(name)) throw new Error(`not a preference: ${name}`);
  try {
    const raw = localStorage.getItem(PREFIX + name);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback; // a damaged value: the default
  }
}

export function savePref(name, value) {
  if (!NAMES.has(name)) throw new Error(`not a preference: ${name}`);
  localStorage.setItem(PREFIX + name, JSON.stringify(value));
}
