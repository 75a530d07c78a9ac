// One event's fields as a table: times in the chosen zone (the epoch ms beside them),
// multi-line text (stack traces) as preformatted lines, JSON values folded, a click on a
// value to filter by it (or to exclude it), and "copy as JSON".

import { el } from './util.js';
import { fmtTime, zoneLabel } from './time.js';

/** Fields that hold epoch milliseconds. */
export const TIME_FIELDS = new Set(['instant', 'insert_instant', 'should_have_run_at', 'next_run',
  'timestamp']);
/** Fields worth a click to filter (short values that identify things). */
const NOT_FILTERABLE = new Set(['id', 'insert_instant', 'instant', 'detail', 'duration_ms',
  'should_have_run_at', 'next_run', 'error_id', 'timestamp']);

/** Flatten `attributes` (and other objects) one level for the table: attributes.user_id… */
export function fieldRows(ev) {
  const rows = [];
  for (const [name, value] of Object.entries(ev)) {
    if (name === 'attributes' && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) rows.push([attributeField(k), v]);
    } else rows.push([name, value]);
  }
  return rows;
}

/** The query language's name of an attribute: its key in quotes when it holds a dot, as
 * OpenTelemetry's flat names do (attributes."service.version"). */
export function attributeField(key) {
  return key.includes('.') && !key.includes('"') ? `attributes."${key}"` : `attributes.${key}`;
}

/** The keys of a field path: attributes."service.version".x → attributes, service.version, x */
export function pathKeys(path) {
  return [...path.matchAll(/"([^"]*)"|[^."]+/g)].map((m) => m[1] ?? m[0]);
}

/** The value of a field path (attributes.a.b, attributes."a.b") of an event. */
export function fieldValue(ev, path) {
  let value = ev;
  for (const part of pathKeys(path)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = value[part];
  }
  return value;
}

function valueCell(name, value) {
  if (TIME_FIELDS.has(name) && typeof value === 'number') {
    return el('td', { class: 'v-time' }, fmtTime(value), el('span', { class: 'muted' }, ` ${zoneLabel(value)} · ${value}`));
  }
  if (value !== null && typeof value === 'object') {
    const n = Array.isArray(value) ? `${value.length} items` : `${Object.keys(value).length} fields`;
    return el('td', {}, el('details', { class: 'v-json' },
      el('summary', {}, `${Array.isArray(value) ? '[…]' : '{…}'} ${n}`),
      el('pre', {}, JSON.stringify(value, null, 2))));
  }
  if (typeof value === 'string' && value.includes('\n')) return el('td', {}, el('pre', { class: 'v-lines' }, value));
  return el('td', {}, el('span', { class: 'v-text' }, String(value)));
}

/**
 * Fill a detail panel with the event's fields.
 * @param {HTMLElement} panel  has .detail-title, .detail-fields, .detail-json
 * @param {object} ev
 * @param {{onFilter?: (field: string, value: string, negate: boolean) => void,
 *          canExclude?: boolean, onColumn?: (field: string) => void}} actions
 */
export function renderDetail(panel, ev, actions = {}) {
  panel.querySelector('.detail-title').textContent = `${ev.kind} #${ev.id}`;
  const rows = fieldRows(ev).map(([name, value]) => {
    const scalar = value === null || typeof value !== 'object';
    const filterable = actions.onFilter && scalar && !NOT_FILTERABLE.has(name) &&
      !(typeof value === 'string' && (value.includes('\n') || value.length > 200));
    const tools = el('td', { class: 'f-tools' },
      filterable ? el('button', { type: 'button', class: 'mini', title: `search ${name}:${value}`,
        dataset: { act: 'filter' }, onclick: () => actions.onFilter(name, String(value), false) }, '+') : null,
      filterable && actions.canExclude ? el('button', { type: 'button', class: 'mini', title: `exclude ${name}:${value}`,
        dataset: { act: 'exclude' }, onclick: () => actions.onFilter(name, String(value), true) }, '−') : null,
      actions.onColumn ? el('button', { type: 'button', class: 'mini', title: `show ${name} as a column`,
        dataset: { act: 'column' }, onclick: () => actions.onColumn(name) }, '▥') : null);
    return el('tr', { dataset: { field: name } }, el('th', {}, name), valueCell(name, value), tools);
  });
  panel.querySelector('.detail-fields').replaceChildren(el('tbody', {}, rows));
  panel.querySelector('.detail-json').textContent = JSON.stringify(ev, null, 2);
  const copy = panel.querySelector('.detail-copy');
  if (copy) {
    copy.onclick = async () => {
      try {
        await navigator.clipboard.writeText(JSON.stringify(ev, null, 2));
        copy.textContent = 'copied';
      } catch {
        copy.textContent = 'copy refused by the browser';
      }
      setTimeout(() => { copy.textContent = 'copy as JSON'; }, 1500);
    };
  }
  panel.hidden = false;
}
