// The result table's columns: chosen and ordered by the person (any field, attributes.*
// too), kept across visits. Two times exist: `received` (insert_instant, the server's
// receive time, the order of the results) and `instant` (when it happened at the source).
// The choice persists (prefs.js).

import { fieldValue, TIME_FIELDS } from './detail.js';
import { loadPref, savePref } from './prefs.js';
import { fmtTime } from './time.js';
import { el, summary } from './util.js';

export const DEFAULT_COLUMNS = ['received', 'kind', 'module_name', 'message'];
/** Fields offered in the chooser (any other name, attributes.* included, can be typed). */
export const KNOWN_FIELDS = ['received', 'instant', 'kind', 'id', 'module_name', 'message',
  'message_type', 'request_key', 'src', 'stream', 'duration_ms', 'screen', 'endpoint',
  'application_name', 'action_name', 'user_id', 'session_id', 'client_ip', 'cyclic_job_name',
  'extension_name', 'request_event_name', 'source', 'type', 'executed_by', 'username', 'server'];

const TITLES = { received: 'received', instant: 'happened (instant)', module_name: 'module',
  message: 'message' };
export const columnTitle = (name) => TITLES[name] ?? name;

export function loadColumns() {
  const saved = loadPref('columns', null);
  if (Array.isArray(saved) && saved.length && saved.every((c) => typeof c === 'string')) return saved;
  return [...DEFAULT_COLUMNS];
}

export function saveColumns(columns) { savePref('columns', columns); }

/** The raw value a column shows for an event (what a click filters on). */
export function cellValue(ev, name) {
  if (name === 'received') return ev.insert_instant;
  return fieldValue(ev, name);
}

/** The table cell of one column for one event. */
export function cell(ev, name) {
  const value = cellValue(ev, name);
  const cls = `c-${name.replace(/[^\w-]/g, '_')}`;
  if (name === 'received' || (TIME_FIELDS.has(name) && typeof value === 'number')) {
    return el('td', { class: `${cls} c-time` }, fmtTime(value));
  }
  if (name === 'kind') {
    return el('td', { class: 'c-kind', dataset: { field: 'kind', value: ev.kind } },
      el('span', { class: `chip kind-${ev.kind}` }, ev.kind));
  }
  if (name === 'message') return el('td', { class: 'c-msg' }, summary(ev));
  const text = value === undefined || value === null ? ''
    : typeof value === 'object' ? JSON.stringify(value) : String(value);
  const clickable = text && typeof value !== 'object' && name !== 'id' && name !== 'duration_ms';
  return el('td', { class: cls, dataset: clickable ? { field: name, value: text } : {} }, text);
}

/**
 * The column chooser: the current columns in order (move up, down, remove) and a box to
 * add any field. Calls onChange(columns) after every change.
 */
export function renderChooser(box, columns, onChange) {
  const move = (i, d) => {
    const next = [...columns];
    [next[i], next[i + d]] = [next[i + d], next[i]];
    onChange(next);
  };
  const list = el('ol', { class: 'col-list' }, columns.map((name, i) => el('li', { dataset: { column: name } },
    el('span', { class: 'col-name' }, columnTitle(name)),
    el('button', { type: 'button', class: 'mini', title: 'move left', disabled: i === 0,
      dataset: { act: 'up' }, onclick: () => move(i, -1) }, '↑'),
    el('button', { type: 'button', class: 'mini', title: 'move right', disabled: i === columns.length - 1,
      dataset: { act: 'down' }, onclick: () => move(i, 1) }, '↓'),
    el('button', { type: 'button', class: 'mini', title: 'remove', disabled: columns.length === 1,
      dataset: { act: 'remove' }, onclick: () => onChange(columns.filter((c) => c !== name)) }, '✕'))));
  const input = el('input', { id: 'col-add', list: 'col-fields', placeholder: 'field or attributes.name',
    'aria-label': 'add a column', spellcheck: 'false' });
  const add = () => {
    const name = input.value.trim();
    if (/^[A-Za-z_]\w*(\.(\w+|"[^"]+"))*$/.test(name) && !columns.includes(name)) onChange([...columns, name]);
  };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); add(); } });
  box.replaceChildren(list,
    el('div', { class: 'col-add' }, input,
      el('datalist', { id: 'col-fields' }, KNOWN_FIELDS.filter((f) => !columns.includes(f))
        .map((f) => el('option', { value: f }))),
      el('button', { type: 'button', id: 'col-add-button', onclick: add }, 'Add'),
      el('button', { type: 'button', class: 'plain', onclick: () => onChange([...DEFAULT_COLUMNS]) }, 'Reset')));
}
