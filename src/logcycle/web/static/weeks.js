// The week model (admin keys only, from GET /api/v1/status): which of the ten cycles is
// current, the retention, the next rotation, and the rows in each kind's tables.

import { api } from './api.js';
import { KINDS } from './search.js';
import { fmtTime, zoneLabel } from './time.js';
import { el, fmtCount, fmtDuration } from './util.js';

const $ = (id) => document.getElementById(id);
const CYCLES = 10;

export class WeeksView {
  constructor(app) {
    this.app = app;
  }

  init() {
    $('weeks-refresh').addEventListener('click', () => this.load());
  }

  async load() {
    $('weeks-error').textContent = '';
    try {
      this.render(await api('/api/v1/status'));
    } catch (err) {
      $('weeks-error').textContent = err.message;
    }
  }

  render(s) {
    const card = (label, value, note) => el('div', { class: 'card' },
      el('div', { class: 'card-label' }, label), el('div', { class: 'card-value' }, value),
      el('div', { class: 'card-note' }, note));
    const weekStart = this.app.session?.week_start;
    $('weeks-cards').replaceChildren(
      card('Current cycle', String(s.current_cycle),
        `week ${s.week}${weekStart ? ` since ${fmtTime(weekStart)}` : ''} · views oslog_<kind>`),
      card('Previous cycle', String(s.previous_cycle), 'views oslog_<kind>_previous'),
      card('Retention', `${s.retention_weeks} weeks`, 'kept besides the current week'),
      card('Next rotation', fmtTime(s.next_rotation).slice(0, 16),
        `${zoneLabel(s.next_rotation)} · in ${fmtDuration(s.next_rotation - s.now)} · Friday 23:45 ${s.timezone}`),
      card('Store', s.store, `writer: ${fmtCount(s.writer?.pending_events ?? 0)} events pending`),
    );
    const head = el('tr', {}, el('th', {}, 'kind \\ cycle'),
      ...range().map((c) => el('th', { class: cls(s, c) }, `${c}`,
        el('div', { class: 'sub' }, label(s, c)))),
      el('th', {}, 'total'));
    const totals = new Array(CYCLES).fill(0);
    const rows = KINDS.map((kind) => {
      const counts = range().map((c) => s.tables[`oslog_${kind}_${c}`] ?? 0);
      counts.forEach((n, c) => { totals[c] += n; });
      return el('tr', {}, el('th', { class: 'kind-name' }, kind),
        ...counts.map((n, c) => el('td', { class: cls(s, c) + (n ? '' : ' zero') }, fmtCount(n))),
        el('td', { class: 'total' }, fmtCount(counts.reduce((a, b) => a + b, 0))));
    });
    const foot = el('tr', { class: 'totals' }, el('th', {}, 'all kinds'),
      ...totals.map((n, c) => el('td', { class: cls(s, c) }, fmtCount(n))),
      el('td', { class: 'total' }, fmtCount(totals.reduce((a, b) => a + b, 0))));
    $('weeks-table').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows), el('tfoot', {}, foot));
  }
}

const range = () => [...Array(CYCLES).keys()];

function cls(s, c) {
  if (c === s.current_cycle) return 'current';
  if (c === s.previous_cycle) return 'previous';
  return s.held?.[String(c)] == null ? 'expired' : 'kept';
}

function label(s, c) {
  const week = s.held?.[String(c)];
  if (c === s.current_cycle) return `week ${week} · current`;
  if (c === s.previous_cycle) return week == null ? 'previous · empty' : `week ${week} · previous`;
  return week == null ? 'empty' : `week ${week}`;
}
