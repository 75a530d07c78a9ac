// The Reports view: per name (screen, endpoint, cyclic job, extension action) of one kind
// of request, over a range: count, errors, error rate, average, p95 and max duration, a
// small chart per row, sortable; a click lists the slowest and the failed requests of that
// name, each opening its request tree. Every number comes from GET /api/v1/stats, so the
// page and the API never disagree.

import { api } from './api.js';
import { fmtTime } from './time.js';
import { el, fmtCount, svg } from './util.js';

const $ = (id) => document.getElementById(id);
const HOUR = 3600000;
const DAY = 24 * HOUR;
const DUR = 'duration_ms';
const FAILED_KEYS = 80; // request keys of the newest errors a "failed" list looks among

/** What each report reads: a kind, a query narrowing it, the field(s) that name a row. */
export const REPORTS = {
  screens: { label: 'Screens', kind: 'screen', by: ['screen'] },
  exposed: { label: 'Exposed integrations', kind: 'integration', query: 'is_expose:true', by: ['endpoint'] },
  mobile: { label: 'Mobile requests', kind: 'mobile_request', by: ['endpoint'] },
  jobs: { label: 'Cyclic jobs', kind: 'cyclic_job', by: ['cyclic_job_name'] },
  consumed: { label: 'Consumed integrations', kind: 'integration', query: 'is_expose:false', by: ['endpoint'], drill: true },
  extensions: { label: 'Extensions', kind: 'extension', by: ['extension_name', 'action_name'], drill: true },
};
const RANGES = { '1h': [HOUR, '5m'], '24h': [DAY, '1h'], '7d': [7 * DAY, '6h'] };
export const METRICS = ['count', 'error_rate', `avg(${DUR})`, `p95(${DUR})`, `max(${DUR})`];
const COLUMNS = [
  ['name', 'name'], ['count', 'count'], ['errors', 'errors'], ['error_rate', 'error rate'],
  [`avg(${DUR})`, 'avg'], [`p95(${DUR})`, 'p95'], [`max(${DUR})`, 'max'],
];

const quote = (v) => `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v).toLocaleString('en-US')} ms`);
const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);

export class ReportsView {
  constructor(app) {
    this.app = app;
    this.report = 'screens';
    this.range = '24h';
    this.sort = ['count', true];
    this.rows = [];
    this.series = new Map();
  }

  init() {
    const kinds = $('reports-kinds');
    for (const [id, r] of Object.entries(REPORTS)) {
      kinds.append(el('button', { type: 'button', dataset: { report: id }, onclick: () => {
        this.report = id;
        this.load();
      } }, r.label));
    }
    for (const button of document.querySelectorAll('#reports-range [data-range]')) {
      button.addEventListener('click', () => { this.range = button.dataset.range; this.load(); });
    }
  }

  /** The report's filter for one name (or all), as the stats and events routes take it. */
  params(r, start, end, row) {
    const terms = [r.query, ...(row ? r.by.map((f) => `${f}:${quote(row[f])}`) : [])];
    return { kind: r.kind, query: terms.filter(Boolean).join(' ') || null, start, end };
  }

  async load() {
    const r = REPORTS[this.report];
    for (const b of document.querySelectorAll('#reports-kinds [data-report]')) {
      b.classList.toggle('active', b.dataset.report === this.report);
    }
    for (const b of document.querySelectorAll('#reports-range [data-range]')) {
      b.classList.toggle('active', b.dataset.range === this.range);
    }
    const [span, interval] = RANGES[this.range];
    const end = this.app.now();
    const start = end - span;
    this.window = { start, end };
    $('reports-error').textContent = '';
    $('reports-drill').replaceChildren();
    const base = { ...this.params(r, start, end), by: r.by.join(',') };
    try {
      const [totals, buckets] = await Promise.all([
        api('/api/v1/stats', { ...base, metrics: METRICS.join(','), limit: 1000 }),
        api('/api/v1/stats', { ...base, metrics: `count,error_rate,avg(${DUR})`, interval, limit: 10000 }),
      ]);
      this.rows = totals.rows.map((row) => ({
        ...row, name: r.by.map((f) => row[f] ?? '—').join(' · '),
        errors: Math.round(row.count * (row.error_rate ?? 0)),
      }));
      this.series = new Map();
      for (const b of buckets.rows) {
        const name = r.by.map((f) => b[f] ?? '—').join(' · ');
        if (!this.series.has(name)) this.series.set(name, []);
        this.series.get(name).push(b);
      }
      this.buckets = { start: Math.floor(start / this.intervalMs(interval)), interval };
      this.render();
      $('view-reports').dataset.loaded = String(Number($('view-reports').dataset.loaded || 0) + 1);
    } catch (err) {
      $('reports-error').textContent = err.message;
    }
  }

  intervalMs(interval) {
    const n = parseInt(interval, 10);
    return n * { m: 60000, h: HOUR, d: DAY }[interval.slice(-1)];
  }

  render() {
    const [key, desc] = this.sort;
    const rows = [...this.rows].sort((a, b) => {
      const x = a[key] ?? -Infinity;
      const y = b[key] ?? -Infinity;
      const c = typeof x === 'string' ? String(x).localeCompare(String(y)) : x - y;
      return desc ? -c : c;
    });
    const head = el('tr', {}, ...COLUMNS.map(([k, label]) => el('th', {
      class: `sortable${k === key ? (desc ? ' desc' : ' asc') : ''}`, dataset: { sort: k },
      onclick: () => { this.sort = [k, k === key ? !desc : k !== 'name']; this.render(); },
    }, label)), el('th', {}, 'duration / errors'));
    const body = rows.map((row) => el('tr', { dataset: { name: row.name }, class: row.errors ? 'has-errors' : '',
      onclick: () => this.drill(row) },
    el('td', { class: 'c-name' }, row.name), el('td', {}, fmtCount(row.count)),
    el('td', {}, fmtCount(row.errors)), el('td', {}, pct(row.error_rate)),
    el('td', {}, ms(row[`avg(${DUR})`])), el('td', {}, ms(row[`p95(${DUR})`])),
    el('td', {}, ms(row[`max(${DUR})`])), el('td', { class: 'c-chart' }, this.chart(row.name))));
    $('reports-table').replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
    $('reports-empty').hidden = rows.length > 0;
  }

  /** Bars of the average duration per bucket; red where the bucket had errors. */
  chart(name) {
    const points = this.series.get(name) ?? [];
    const width = 120;
    const height = 24;
    const step = this.intervalMs(this.buckets.interval);
    const first = this.buckets.start * step;
    const n = Math.max(1, Math.ceil((this.window.end - first) / step));
    const top = Math.max(1, ...points.map((p) => p[`avg(${DUR})`] ?? 0));
    const bars = points.map((p) => {
      const i = Math.round((p.bucket - first) / step);
      const h = Math.max(1, ((p[`avg(${DUR})`] ?? 0) / top) * height);
      return svg('rect', { x: (i * width) / n, y: height - h, width: Math.max(1, width / n - 1), height: h,
        class: p.error_rate ? 'bar err' : 'bar' },
      svg('title', {}, `${fmtTime(p.bucket)}: ${fmtCount(p.count)}, avg ${ms(p[`avg(${DUR})`])}, errors ${pct(p.error_rate)}`));
    });
    return svg('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}` }, ...bars);
  }

  /** The slowest and the failed requests of one name, each opening its request tree. */
  async drill(row) {
    const r = REPORTS[this.report];
    const { start, end } = this.window;
    const base = this.params(r, start, end, row);
    const p95 = row[`p95(${DUR})`];
    const slowQuery = [base.query, p95 !== null && p95 !== undefined ? `${DUR}:>=${p95}` : null]
      .filter(Boolean).join(' ');
    const out = $('reports-drill');
    out.replaceChildren(el('p', { class: 'muted' }, `Loading ${row.name}…`));
    try {
      const failedTerm = await this.failedTerm(r, start, end);
      const failedQuery = [base.query, failedTerm].filter(Boolean).join(' ');
      const [slow, failed] = await Promise.all([
        api('/api/v1/events', { ...base, query: slowQuery, limit: 200 }),
        failedTerm ? api('/api/v1/events', { ...base, query: failedQuery, limit: 20 }) : { events: [] },
      ]);
      const slowest = slow.events.sort((a, b) => b[DUR] - a[DUR]).slice(0, 10);
      out.replaceChildren(el('h3', {}, row.name),
        this.list('reports-slowest', `Slowest (at or above p95, ${ms(p95)})`, slowest),
        this.list('reports-failed', 'Failed', failed.events));
    } catch (err) {
      out.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  }

  /**
   * The query term of a failed event, as error_rate counts them (docs/query.md): its own
   * error (error_id), and for a top-level kind an error event of its request, looked for
   * among the requests of the newest errors of the range. Null: none can be failed.
   */
  async failedTerm(r, start, end) {
    const own = r.kind === 'screen' ? null : 'error_id:*'; // a screen has no inline error
    if (r.drill) return own;
    const errors = await api('/api/v1/events', { kind: 'error', query: 'request_key:*', start, end, limit: 200 });
    const keys = [...new Set(errors.events.map((e) => e.request_key))].slice(0, FAILED_KEYS);
    if (!keys.length) return own;
    const theirs = `request_key:in(${keys.map(quote).join(', ')})`;
    return own ? `(${own} OR ${theirs})` : theirs;
  }

  list(id, title, events) {
    const items = events.map((ev) => el('li', {},
      el('span', { class: 'muted' }, fmtTime(ev.insert_instant)), ' ',
      el('b', {}, ms(ev[DUR])), ' ',
      ev.request_key
        ? el('button', { type: 'button', class: 'plain link', dataset: { key: ev.request_key },
          onclick: () => this.app.openRequest(ev.request_key) }, ev.request_key)
        : el('span', { class: 'muted' }, 'no request key')));
    return el('section', { id, class: 'drill-list' }, el('h4', {}, title),
      items.length ? el('ol', {}, ...items) : el('p', { class: 'muted' }, 'none'));
  }
}
