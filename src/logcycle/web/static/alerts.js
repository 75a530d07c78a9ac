// The Alerts view (admin keys only, from GET /api/v1/alerts): each rule's state, value and
// last run, a link to the events it counts, and its last failed delivery (when, where, the
// error, the attempts). Everything reaches the page as text (util.el).

import { api } from './api.js';
import { fmtTime } from './time.js';
import { el } from './util.js';

const $ = (id) => document.getElementById(id);

/** The fragment of the page showing what a rule counts (as the notifications' link). */
export function alertLink(a, now) {
  const type = a.condition?.type;
  if (type === 'new_error_group') return '#errors?status=unresolved&order=first_seen';
  if (type === 'regressed_error_group') return '#errors?status=regressed&order=last_seen';
  const p = new URLSearchParams();
  if (a.query && a.query.trim()) p.set('q', a.query);
  const window = (a.condition?.window_s ?? 300) * 1000;
  p.set('start', String(now - window + 1));
  p.set('end', String(now));
  return `#search?${p}`;
}

function conditionText(c) {
  if (c.type === 'count') return `count > ${c.above} in ${c.window_s} s`;
  if (c.type === 'stat') return `${c.metric} > ${c.above} in ${c.window_s} s`;
  return c.type.replaceAll('_', ' ');
}

export class AlertsView {
  constructor(app) {
    this.app = app;
  }

  init() {
    $('alerts-refresh').addEventListener('click', () => this.load());
  }

  async load() {
    $('alerts-error').textContent = '';
    try {
      const { alerts } = await api('/api/v1/alerts');
      $('alerts-rows').replaceChildren(...alerts.map((a) => this.row(a)));
      $('alerts-empty').hidden = alerts.length > 0;
    } catch (err) {
      $('alerts-error').textContent = err.message;
    }
  }

  row(a) {
    const failed = (a.failed_deliveries ?? []).at(-1);
    const state = a.enabled === false ? 'disabled' : a.state;
    return el('tr', { dataset: { alert: String(a.id) } },
      el('td', { class: 'grow' }, el('a', { href: alertLink(a, this.app.now()), class: 'alert-link' }, a.name),
        el('div', { class: 'muted' }, a.condition?.type?.endsWith('_error_group') ? 'error groups'
          : a.query || 'every event')),
      el('td', {}, conditionText(a.condition)),
      el('td', {}, el('span', { class: `status alert-${state}` }, state),
        a.state_since ? el('div', { class: 'muted' }, `since ${fmtTime(a.state_since)}`) : ''),
      el('td', { class: 'num' }, a.value === null || a.value === undefined ? '–' : String(a.value)),
      el('td', {}, a.last_run ? fmtTime(a.last_run) : 'not yet',
        a.last_error ? el('div', { class: 'error' }, a.last_error) : ''),
      el('td', { class: 'failed' }, failed
        ? [el('div', { class: 'error' }, failed.error ?? 'failed'),
          el('div', { class: 'muted' }, `${failed.target} · ${fmtTime(failed.at)} · ` +
            `${failed.attempts} attempt${failed.attempts === 1 ? '' : 's'} · ${failed.state}`)]
        : el('span', { class: 'muted' }, 'none')));
  }
}
