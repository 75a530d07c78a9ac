// The Errors view: error groups (one row per fingerprint) with a sparkline of their daily
// counts, filters and status buttons, and a group's page with its occurrences, each with a
// link to its request tree. Everything logged reaches the page as text (util.el).

import { ApiError, api, authHeaders, url } from './api.js';
import { fmtTime } from './time.js';
import { el, fmtCount, svg } from './util.js';

const $ = (id) => document.getElementById(id);
const STATUSES = ['unresolved', 'regressed', 'resolved', 'ignored'];

/** PATCH a group's status (api.js has only GET). */
async function setStatus(fingerprint, status) {
  const res = await fetch(url(`/api/v1/errors/${encodeURIComponent(fingerprint)}`), {
    method: 'PATCH', body: JSON.stringify({ status }), cache: 'no-store', credentials: 'omit',
    headers: { ...authHeaders(), 'Content-Type': 'application/json' },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

/** A small bar chart of [[day, count], ...]. */
function sparkline(daily) {
  const w = 84;
  const h = 18;
  const max = Math.max(1, ...daily.map(([, n]) => n));
  const bw = w / Math.max(1, daily.length);
  return svg('svg', { class: 'err-spark', width: w, height: h, viewBox: `0 0 ${w} ${h}`,
    role: 'img', 'aria-label': `${daily.reduce((s, [, n]) => s + n, 0)} in ${daily.length} days` },
  daily.map(([day, n], i) => svg('rect', {
    x: (i * bw).toFixed(1), width: Math.max(1, bw - 1).toFixed(1),
    y: (h - (n / max) * h).toFixed(1), height: ((n / max) * h).toFixed(1),
  }, svg('title', {}, `${new Date(day).toISOString().slice(0, 10)}: ${n}`))));
}

export class ErrorsView {
  constructor(app) {
    this.app = app;
    this.groups = new Map();
    this.open = null; // the fingerprint whose page is shown
  }

  init() {
    $('errors-form').addEventListener('submit', (e) => { e.preventDefault(); this.load(); });
    $('errors-back').addEventListener('click', () => this.app.go('errors'));
  }

  /** #errors?status=…&order=…&query=… (an alert's link): the filters, then the list. */
  restore(hash) {
    const p = new URLSearchParams(hash.replace(/^#errors\??/, ''));
    const pick = (id, value) => {
      if (value !== null && [...$(id).options].some((o) => o.value === value)) $(id).value = value;
    };
    pick('errors-status', p.get('status'));
    pick('errors-order', p.get('order'));
    if (p.has('query')) $('errors-query').value = p.get('query');
    return this.load();
  }

  async load() {
    this.open = null;
    $('errors-list').hidden = false;
    $('error-group').hidden = true;
    $('errors-error').textContent = '';
    const params = { status: $('errors-status').value, order: $('errors-order').value,
      query: $('errors-query').value.trim() };
    try {
      const { groups } = await api('/api/v1/errors', params);
      this.groups = new Map(groups.map((g) => [g.fingerprint, g]));
      $('errors-rows').replaceChildren(...groups.map((g) => this.row(g)));
      $('errors-empty').hidden = groups.length > 0;
    } catch (err) {
      $('errors-error').textContent = err.message;
    }
  }

  row(g) {
    return el('tr', { dataset: { fingerprint: g.fingerprint } },
      el('td', {}, sparkline(g.daily)),
      el('td', { class: 'grow' }, el('a', {
        href: `#error=${encodeURIComponent(g.fingerprint)}`, class: 'group-link',
      }, g.message ?? '(no message)'), el('div', { class: 'muted' }, g.module_name ?? '')),
      el('td', { class: 'num' }, fmtCount(g.count)),
      el('td', {}, fmtTime(g.last_seen)),
      el('td', {}, fmtTime(g.first_seen)),
      el('td', {}, el('span', { class: `status status-${g.status}` }, g.status)),
      el('td', { class: 'actions' }, this.buttons(g)));
  }

  buttons(g) {
    const want = g.status === 'resolved' || g.status === 'ignored'
      ? [['unresolved', 'Reopen']] : [['resolved', 'Resolve'], ['ignored', 'Ignore']];
    return want.map(([status, label]) => el('button', {
      type: 'button', class: 'small', dataset: { status },
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await setStatus(g.fingerprint, status);
          if (this.open) await this.show(this.open); else await this.load();
        } catch (err) {
          $('errors-error').textContent = err.message;
        }
      },
    }, label));
  }

  /** A group's page: its summary, status buttons and newest occurrences. */
  async show(fingerprint) {
    this.open = fingerprint;
    $('errors-list').hidden = true;
    $('error-group').hidden = false;
    $('errors-error').textContent = '';
    $('group-occurrences').replaceChildren();
    try {
      const [{ groups }, { events }] = await Promise.all([
        api('/api/v1/errors'),
        api('/api/v1/events', { kind: 'error', query: `fingerprint:"${fingerprint}"`, limit: 50 }),
      ]);
      if (this.open !== fingerprint) return;
      const g = groups.find((x) => x.fingerprint === fingerprint);
      $('group-title').textContent = g?.message ?? fingerprint;
      $('group-summary').textContent = g
        ? `${g.module_name ?? ''} · ${fmtCount(g.total)} in all · first ${fmtTime(g.first_seen)}` +
          ` · last ${fmtTime(g.last_seen)} · ${g.status}` : 'not found';
      $('group-actions').replaceChildren(...(g ? this.buttons(g) : []), g ? sparkline(g.daily) : '');
      $('group-occurrences').replaceChildren(...events.map((ev) => el('li', { class: 'occurrence' },
        el('div', { class: 'node-row' }, el('span', { class: 'muted' }, fmtTime(ev.instant)),
          el('span', {}, ev.message),
          ev.request_key ? el('button', {
            type: 'button', class: 'small', dataset: { key: ev.request_key },
            onclick: () => this.app.openRequest(ev.request_key),
          }, 'Open its request') : ''),
        ev.detail ? el('pre', { class: 'detail-json' }, ev.detail) : '')));
    } catch (err) {
      $('errors-error').textContent = err.message;
    }
  }
}

export { STATUSES };
