// Facets beside the results: the top values of kind, module, type, source and of any
// attributes.* field the person adds, with their counts. A click adds `field:value` to the
// search (the "−" beside it, its exclusion, with the query language).
//
// Counts: with GET /api/v1/stats they are the server's, for the whole search and range;
// the kind counts always are (the histogram's `kinds`); without stats, and for
// attributes.* (which stats cannot group by), a field is counted over the events loaded
// so far, and the facet says so.

import { api } from './api.js';
import { fieldValue } from './detail.js';
import { loadPref, savePref } from './prefs.js';
import { hasQueryLanguage, hasStats } from './query.js';
import { el, fmtCount } from './util.js';

export const BASE_FACETS = [['kind', 'kind'], ['module_name', 'module'], ['message_type', 'type'],
  ['src', 'source']];
const TOP = 5;

export function loadExtraFacets() {
  const saved = loadPref('facets', []);
  return Array.isArray(saved) ? saved.filter((f) => typeof f === 'string') : [];
}

export function saveExtraFacets(fields) { savePref('facets', fields); }

/** Top values over loaded events: [[value, count], …] */
function countLoaded(events, field) {
  const counts = new Map();
  for (const ev of events) {
    const v = fieldValue(ev, field);
    if (v === undefined || v === null || typeof v === 'object') continue;
    counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP);
}

async function countServer(field, params, signal) {
  const out = await api('/api/v1/stats', { ...params, by: field, metrics: 'count',
    order: 'count desc', limit: TOP }, { signal });
  return out.rows.filter((r) => r[field] !== null && r[field] !== undefined)
    .map((r) => [String(r[field]), r.count]);
}

/**
 * @param {HTMLElement} box
 * @param {{params: object, histogram: object|null, events: object[], extra: string[],
 *          signal?: AbortSignal, onPick: (field: string, value: string, negate: boolean) => void,
 *          onExtra: (fields: string[]) => void}} o
 */
export async function renderFacets(box, o) {
  const fields = [...BASE_FACETS, ...o.extra.map((f) => [f, f])];
  const sections = await Promise.all(fields.map(async ([field, title]) => {
    let values;
    let exact = true;
    if (field === 'kind' && o.histogram) {
      values = Object.entries(o.histogram.kinds).sort((a, b) => b[1] - a[1]).slice(0, TOP);
    } else if (hasStats() && !field.includes('.')) { // stats groups by columns, not attributes.*
      try {
        values = await countServer(field, o.params, o.signal);
      } catch (err) {
        if (err?.name === 'AbortError') throw err;
        values = countLoaded(o.events, field);
        exact = false;
      }
    } else {
      values = countLoaded(o.events, field);
      exact = false;
    }
    return section(field, title, values, exact, o);
  }));
  const input = el('input', { id: 'facet-add', placeholder: 'attributes.…', 'aria-label': 'add a facet',
    spellcheck: 'false' });
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const name = input.value.trim();
    // attributes.a.b, or with keys in quotes that hold dots: attributes."service.version"
    if (/^attributes(\.(\w+|"[^"]+"))+$|^[a-z_]+$/.test(name) && !o.extra.includes(name)) o.onExtra([...o.extra, name]);
  });
  box.replaceChildren(...sections, el('div', { class: 'facet-add' }, input));
}

function section(field, title, values, exact, o) {
  const note = exact ? '' : `in the ${fmtCount(o.events.length)} loaded`;
  const extra = o.extra.includes(field);
  return el('section', { class: 'facet', dataset: { facet: field } },
    el('h4', {}, title, note ? el('span', { class: 'muted' }, ` ${note}`) : null,
      extra ? el('button', { type: 'button', class: 'mini plain', title: 'remove this facet',
        onclick: () => o.onExtra(o.extra.filter((f) => f !== field)) }, '✕') : null),
    values.length ? el('ul', {}, values.map(([value, count]) => el('li', {},
      el('button', { type: 'button', class: 'facet-value', dataset: { value }, title: `search ${field}:${value}`,
        onclick: () => o.onPick(field, value, false) },
      el('span', { class: 'facet-name' }, value), el('span', { class: 'facet-count' }, fmtCount(count))),
      hasQueryLanguage() ? el('button', { type: 'button', class: 'mini plain', title: `exclude ${field}:${value}`,
        dataset: { act: 'exclude' }, onclick: () => o.onPick(field, value, true) }, '−') : null)))
      : el('p', { class: 'muted' }, 'no value'));
}
