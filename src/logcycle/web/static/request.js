// The request view: every event of one request_key as a tree. The top-level event (the
// screen, exposed integration, mobile request or cyclic job that opened the request) is
// the root; its drill events follow in time order, each with its offset from the start,
// its duration on a waterfall bar, and errors highlighted with their detail.

import { api } from './api.js';
import { fmtTime, zoneLabel } from './time.js';
import { el, fmtCount, fmtDuration, summary } from './util.js';

/** A real error: an `error` event, or an event that carries one (its inline `error`). A
 * `general` event whose message_type is "Error" is a message about an error, not one. */
export const failed = (ev) => ev.kind === 'error' || !!ev.error;

const $ = (id) => document.getElementById(id);

export class RequestView {
  constructor(app) {
    this.app = app;
    this.key = null;
    this.events = new Map();
  }

  init() {
    $('req-tree').addEventListener('click', (e) => {
      const node = e.target.closest('[data-id]');
      if (node) this.select(Number(node.dataset.id));
    });
    $('req-back').addEventListener('click', () => this.app.go('search'));
    $('req-detail-close').addEventListener('click', () => { $('req-detail').hidden = true; });
  }

  async open(key) {
    this.key = key;
    this.events.clear();
    $('req-title').textContent = key;
    $('req-summary').textContent = 'Loading…';
    $('req-tree').replaceChildren();
    $('req-detail').hidden = true;
    try {
      const tree = await api(`/api/v1/requests/${encodeURIComponent(key)}`);
      if (this.key === key) {
        this.tree = tree;
        this.render(tree);
      }
    } catch (err) {
      if (this.key === key) $('req-summary').textContent = err.message;
    }
  }

  /** The zone changed: draw the times again. */
  redraw() {
    if (this.tree && this.key) this.render(this.tree);
  }

  render(tree) {
    const all = [...tree.top_level, ...tree.drill];
    const errors = all.filter(failed).length;
    const t0 = Math.min(...all.map((e) => e.instant));
    const t1 = Math.max(...all.map((e) => e.instant + (e.duration_ms ?? 0)));
    const span = Math.max(1, t1 - t0);
    $('req-summary').textContent = `${fmtCount(tree.count)} events · ${fmtDuration(t1 - t0)}` +
      ` · ${errors ? `${errors} failed` : 'no error'}` +
      (tree.truncated ? ' · truncated: only the first events are shown' : '') + ` · times in ${zoneLabel()}`;
    const groups = assign(tree.top_level, tree.drill);
    const roots = tree.top_level.map((top) =>
      this.node(top, t0, span, true, groups.get(top.id) ?? []));
    const orphans = groups.get(null) ?? [];
    if (orphans.length) {
      roots.push(el('li', { class: 'node orphans' },
        el('div', { class: 'node-row' }, el('span', { class: 'muted' },
          'No top-level event: the drill events of this request')),
        el('ol', { class: 'children' }, orphans.map((e) => this.node(e, t0, span, false, [])))));
    }
    $('req-tree').replaceChildren(...roots);
  }

  node(ev, t0, span, top, children) {
    this.events.set(ev.id, ev);
    const offset = ev.instant - t0;
    const bar = el('span', { class: 'wf-fill' });
    // CSSOM properties, not a style attribute: the Content-Security-Policy allows these.
    bar.style.left = `${(offset / span) * 100}%`;
    bar.style.width = `${Math.max(0.4, ((ev.duration_ms ?? 0) / span) * 100)}%`;
    const err = ev.kind === 'error' ? ev : ev.error;
    return el('li', { class: ['node', top ? 'top' : 'drill', failed(ev) ? 'err' : ''].join(' ') },
      el('div', { class: 'node-row', dataset: { id: ev.id }, tabindex: 0, title: fmtTime(ev.instant) },
        el('span', { class: 'offset' }, top ? fmtTime(ev.instant).slice(11) : `+${fmtDuration(offset)}`),
        el('span', { class: `chip kind-${ev.kind}` }, ev.kind),
        el('span', { class: 'what' }, summary(ev) || ev.kind),
        el('span', { class: 'module' }, ev.module_name ?? ''),
        el('span', { class: 'dur' }, typeof ev.duration_ms === 'number' ? fmtDuration(ev.duration_ms) : ''),
        el('span', { class: 'wf' }, bar)),
      err && (err !== ev || err.detail) ? el('div', { class: 'error-box' },
        err !== ev ? el('strong', {}, `error: ${err.message ?? ''}`) : null,
        err.detail ? el('pre', { class: 'error-detail' }, err.detail) : null) : null,
      children.length ? el('ol', { class: 'children' },
        children.map((c) => this.node(c, t0, span, false, []))) : null);
  }

  select(id) {
    const ev = this.events.get(id);
    if (ev) this.app.showEvent($('req-detail'), ev);
  }
}

/** Each drill event under the last top-level event that began at or before it
 * (the first one if it began before all of them); key null: no top-level event. */
function assign(tops, drill) {
  const groups = new Map();
  const sorted = [...tops].sort((a, b) => a.instant - b.instant || a.id - b.id);
  for (const ev of drill) {
    let owner = sorted.length ? sorted[0].id : null;
    for (const top of sorted) if (top.instant <= ev.instant) owner = top.id;
    if (!groups.has(owner)) groups.set(owner, []);
    groups.get(owner).push(ev);
  }
  return groups;
}
