// The search view: filters, time range with quick picks, the histogram, results loaded
// page by page as the person scrolls, the live tail, and one event's fields.

import { api } from './api.js';
import { bucketsFor, renderHistogram } from './histogram.js';
import { Tail } from './tail.js';
import { el, fmtTime, fromLocalInput, isError, summary, toLocalInput } from './util.js';

export const KINDS = ['screen', 'integration', 'mobile_request', 'cyclic_job', 'error', 'general',
  'extension', 'request_event'];
const PICKS = { '15m': 15 * 60_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };
const PAGE = 100;
const $ = (id) => document.getElementById(id);

export class SearchView {
  constructor(app) {
    this.app = app;
    this.range = { pick: '1h' };
    this.query = null;
    this.next = null;
    this.loading = false;
    this.seq = 0;
    this.ctrl = null;
    this.events = new Map();
    this.tail = null;
    this.fresh = 0;
    this.lastHistogram = null;
  }

  init() {
    $('f-kind').append(...KINDS.map((k) => el('option', { value: k }, k)));
    $('filters').addEventListener('submit', (e) => { e.preventDefault(); this.search(); });
    for (const button of document.querySelectorAll('#quick button')) {
      button.addEventListener('click', () => this.pick(button.dataset.range));
    }
    for (const id of ['f-start', 'f-end']) {
      $(id).addEventListener('change', () => {
        this.range = { start: fromLocalInput($('f-start').value), end: fromLocalInput($('f-end').value) };
        this.search();
      });
    }
    $('f-kind').addEventListener('change', () => this.search());
    $('live').addEventListener('click', () => this.toggleLive());
    $('pause').addEventListener('click', () => this.togglePause());
    $('rows').addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-id]');
      if (tr) this.select(Number(tr.dataset.id));
    });
    $('detail-close').addEventListener('click', () => this.closeDetail());
    $('detail-request').addEventListener('click', () => {
      const key = $('detail-request').dataset.key;
      if (key) this.app.openRequest(key);
    });
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.more();
    }, { rootMargin: '300px' }).observe($('more'));
    new ResizeObserver(() => this.redrawHistogram()).observe($('histogram'));
  }

  filters() {
    const value = (id) => $(id).value.trim();
    return { message: value('f-message'), kind: value('f-kind'), type: value('f-type'),
      module: value('f-module'), src: value('f-src'), stream: value('f-stream') };
  }

  pick(name) {
    this.range = { pick: name };
    this.search();
  }

  async currentRange() {
    const pick = this.range.pick;
    if (!pick) return { start: this.range.start, end: this.range.end };
    const session = await this.app.freshSession();
    if (pick === 'prevweek') {
      return { start: session.previous_week_start, end: session.week_start - 1 };
    }
    const end = this.app.now();
    return { start: end - PICKS[pick], end };
  }

  showRange({ start, end }) {
    for (const b of document.querySelectorAll('#quick button')) {
      b.classList.toggle('active', b.dataset.range === this.range.pick);
    }
    $('f-start').value = start ? toLocalInput(start) : '';
    $('f-end').value = end ? toLocalInput(end) : '';
  }

  /** Run the search: the first page and the histogram, in parallel. */
  async search() {
    const seq = ++this.seq;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = new AbortController();
    const range = await this.currentRange();
    this.showRange(range);
    this.query = { ...this.filters(), start: range.start, end: range.end };
    this.events.clear();
    this.next = null;
    this.fresh = 0;
    $('rows').replaceChildren();
    $('search-error').textContent = '';
    $('more').textContent = 'Searching…';
    this.closeDetail();
    const signal = this.ctrl.signal;
    const current = () => seq === this.seq;
    // The rows first (the quick query), each shown as soon as it is there.
    const page = api('/api/v1/events', { ...this.query, limit: PAGE }, { signal })
      .then((v) => current() && this.addPage(v), (err) => current() && this.fail(err));
    const histogram = api('/api/v1/histogram',
      { ...this.query, buckets: bucketsFor($('histogram')) }, { signal })
      .then((v) => {
        if (!current()) return;
        this.lastHistogram = v;
        this.redrawHistogram();
      }, (err) => current() && this.fail(err, { keepRows: true }));
    await Promise.all([page, histogram]);
    if (!current()) return;
    $('view-search').dataset.searches = String(seq); // done: for the benchmark and tests
    if (this.tail) this.restartTail();
  }

  fail(err, { keepRows = false } = {}) {
    if (err?.name === 'AbortError') return;
    $('search-error').textContent = err?.message || String(err);
    if (!keepRows) $('more').textContent = '';
  }

  redrawHistogram() {
    if (!this.lastHistogram) return;
    renderHistogram($('histogram'), this.lastHistogram, (start, end) => {
      this.range = { start, end };
      this.search();
    });
  }

  addPage(page) {
    $('rows').append(...page.events.filter((ev) => !this.events.has(ev.id)).map((ev) => this.row(ev)));
    this.next = page.next;
    const shown = this.events.size;
    $('more').textContent = this.next ? 'Loading more as you scroll…'
      : shown ? `${shown} events shown: that is all of them.` : 'No event matches.';
    if (this.next) requestAnimationFrame(() => this.moreIfVisible());
  }

  moreIfVisible() {
    const rect = $('more').getBoundingClientRect();
    if (rect.top < window.innerHeight + 300) this.more();
  }

  /** The next page (the `next` token of the last one), when the end of the list shows. */
  async more() {
    if (!this.next || this.loading || !this.query) return;
    this.loading = true;
    const seq = this.seq;
    try {
      const page = await api('/api/v1/events', { ...this.query, limit: PAGE, after: this.next },
        { signal: this.ctrl.signal });
      if (seq === this.seq) this.addPage(page);
    } catch (err) {
      if (seq === this.seq) this.fail(err);
    } finally {
      this.loading = false;
    }
  }

  row(ev, fresh = false) {
    this.events.set(ev.id, ev);
    const time = typeof ev.instant === 'number' ? ev.instant : ev.insert_instant;
    return el('tr', {
      dataset: { id: ev.id },
      class: [isError(ev) ? 'is-error' : '', fresh ? 'fresh' : ''].join(' ').trim() || null,
      title: `#${ev.id} · received ${fmtTime(ev.insert_instant)}`,
    },
    el('td', { class: 'c-time' }, fmtTime(time)),
    el('td', { class: 'c-kind' }, el('span', { class: `chip kind-${ev.kind}` }, ev.kind)),
    el('td', { class: 'c-module' }, ev.module_name ?? ''),
    el('td', { class: 'c-msg' }, summary(ev)));
  }

  select(id) {
    const ev = this.events.get(id);
    if (!ev) return;
    for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
    document.querySelector(`#rows tr[data-id="${id}"]`)?.classList.add('selected');
    this.app.showEvent($('detail'), ev);
  }

  closeDetail() {
    $('detail').hidden = true;
    for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
  }

  // -- live tail -------------------------------------------------------------------------
  tailParams() {
    const { message, kind, type, module, src, stream } = this.filters();
    return { message, kind, type, module, src, stream };
  }

  /** Continue after the newest event shown when the range runs up to now. */
  resumeId() {
    if (!this.range.pick || this.range.pick === 'prevweek' || !this.events.size) return null;
    return Math.max(...this.events.keys());
  }

  toggleLive() {
    if (this.tail) {
      this.tail.stop();
      this.tail = null;
      $('live').setAttribute('aria-pressed', 'false');
      $('pause').hidden = true;
      return;
    }
    $('live').setAttribute('aria-pressed', 'true');
    $('pause').hidden = false;
    this.restartTail();
  }

  restartTail() {
    if (this.tail) this.tail.halt();
    this.tail = new Tail(this.tailParams(), (ev) => this.onLive(ev), (s, d) => this.liveState(s, d));
    this.liveState('connecting');
    this.tail.start(this.resumeId());
  }

  togglePause() {
    if (!this.tail) return;
    if (this.tail.running) this.tail.pause();
    else {
      this.liveState('connecting');
      this.tail.start();
    }
  }

  onLive(ev) {
    if (this.events.has(ev.id)) return;
    $('rows').prepend(this.row(ev, true));
    this.fresh += 1;
    this.liveState('live');
    if ($('more').textContent === 'No event matches.') $('more').textContent = '';
  }

  liveState(state, detail = '') {
    const status = $('live-status');
    status.dataset.state = state;
    const texts = { live: `live${this.fresh ? ` · ${this.fresh} new` : ''}`, paused: 'paused',
      connecting: 'connecting…', reconnecting: 'reconnecting…', stopped: '' };
    status.textContent = [texts[state] ?? state, detail].filter(Boolean).join(' · ');
    $('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
  }
}
