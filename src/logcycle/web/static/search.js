// The search view: one query box (query.js), time range with quick picks and a UTC/local
// switch, the histogram, facets, results in chosen columns loaded page by page as the
// person scrolls, the live tail, and one event's fields. The search, range, sort and
// selected event live in the URL (#search?q=…&range=…&event=…).

import { api } from './api.js';
import { cell, cellValue, columnTitle, loadColumns, renderChooser, saveColumns } from './columns.js';
import { renderDetail } from './detail.js';
import { loadExtraFacets, renderFacets, saveExtraFacets } from './facets.js';
import { addEvent, bucketsFor, renderHistogram } from './histogram.js';
import { addTerm, hasQueryLanguage, looksLikeKey, parse, setField, term, toParams, valuesOf } from './query.js';
import { Tail } from './tail.js';
import { fmtInput, getZone, onZone, parseInput, setZone, zoneLabel } from './time.js';
import { el, isError } from './util.js';

export const KINDS = ['screen', 'integration', 'mobile_request', 'cyclic_job', 'error', 'general',
  'extension', 'request_event'];
const PICKS = { '15m': 15 * 60_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };
const PAGE = 100;
const $ = (id) => document.getElementById(id);

export class SearchView {
  constructor(app) {
    this.app = app;
    this.state = { q: '', pick: '1h', start: null, end: null, sort: 'received', event: null };
    this.query = null;
    this.next = null;
    this.loading = false;
    this.seq = 0;
    this.ctrl = null;
    this.events = new Map();
    this.tail = null;
    this.fresh = 0;
    this.lastHistogram = null;
    this.columns = loadColumns();
    this.extraFacets = loadExtraFacets();
  }

  init() {
    $('f-kind').append(...KINDS.map((k) => el('option', { value: k }, k)));
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      this.change({ q: $('f-query').value.trim() });
    });
    $('f-kind').addEventListener('change', () =>
      this.change({ q: setField($('f-query').value, 'kind', $('f-kind').value) }));
    for (const button of document.querySelectorAll('#quick button')) {
      button.addEventListener('click', () => this.change({ pick: button.dataset.range, start: null, end: null }));
    }
    for (const id of ['f-start', 'f-end']) $(id).addEventListener('change', () => this.typedRange());
    for (const button of document.querySelectorAll('#zone button')) {
      button.addEventListener('click', () => setZone(button.dataset.zone));
    }
    onZone(() => this.redrawTimes());
    $('live').addEventListener('click', () => this.toggleLive());
    $('pause').addEventListener('click', () => this.togglePause());
    $('rows').addEventListener('click', (e) => this.onRowClick(e));
    $('results-head').addEventListener('click', (e) => {
      const th = e.target.closest('th[data-sort]');
      if (th) this.change({ sort: th.dataset.sort }, { keepRows: true });
    });
    $('columns-toggle').addEventListener('click', () => {
      $('columns').hidden = !$('columns').hidden;
      this.drawChooser();
    });
    $('detail-close').addEventListener('click', () => this.closeDetail(true));
    $('detail-request').addEventListener('click', () => {
      const key = $('detail-request').dataset.key;
      if (key) this.app.openRequest(key);
    });
    $('detail-raw').addEventListener('click', () => {
      const raw = $('detail').classList.toggle('raw');
      $('detail-raw').textContent = raw ? 'fields' : 'JSON';
    });
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.more();
    }, { rootMargin: '300px' }).observe($('more'));
    new ResizeObserver(() => this.redrawHistogram()).observe($('histogram'));
    this.drawHead();
    this.showZone();
  }

  // -- state and the URL ----------------------------------------------------------------
  /** The fragment for a state: #search?q=…&range=1h (or start/end in epoch ms)&sort&event. */
  static hash(state) {
    const p = new URLSearchParams();
    if (state.q) p.set('q', state.q);
    if (state.pick) p.set('range', state.pick);
    else {
      if (state.start !== null) p.set('start', String(state.start));
      if (state.end !== null) p.set('end', String(state.end));
    }
    if (state.sort !== 'received') p.set('sort', state.sort);
    if (state.event !== null) p.set('event', String(state.event));
    return `#search?${p}`;
  }

  static parseHash(hash) {
    const p = new URLSearchParams(hash.replace(/^#search\??/, ''));
    const num = (name) => (/^\d+$/.test(p.get(name) ?? '') ? Number(p.get(name)) : null);
    const pick = p.get('range');
    const start = num('start');
    const end = num('end');
    return { q: p.get('q') ?? '', pick: pick in PICKS || pick === 'prevweek' ? pick : (start ?? end) === null ? '1h' : null,
      start, end, sort: p.get('sort') === 'instant' ? 'instant' : 'received', event: num('event') };
  }

  /** A person changed the search: a new history entry, then search. */
  change(patch, { keepRows = false } = {}) {
    this.state = { ...this.state, event: null, ...patch };
    window.history.pushState(null, '', SearchView.hash(this.state));
    if (keepRows) this.resort();
    else this.search();
  }

  /** Back, forward or reload: take the state from the URL (search only if it changed). */
  restore(hash) {
    const next = SearchView.parseHash(hash);
    const same = ['q', 'pick', 'start', 'end'].every((k) => next[k] === this.state[k]) && this.query;
    const resort = next.sort !== this.state.sort;
    this.state = next;
    if (!same) return this.search();
    if (resort) this.resort();
    if (next.event === null) this.closeDetail(false);
    else this.select(next.event, { remember: false });
    return undefined;
  }

  remember() {
    window.history.replaceState(null, '', SearchView.hash(this.state));
  }

  typedRange() {
    const start = parseInput($('f-start').value);
    const end = parseInput($('f-end').value);
    if (start === null || end === null) {
      $('search-error').textContent = 'from and to are times like 2026-11-23 15:00:00 ' +
        `(${zoneLabel()}).`;
      return;
    }
    this.change({ pick: null, start, end });
  }

  async currentRange() {
    const pick = this.state.pick;
    if (!pick) return { start: this.state.start, end: this.state.end };
    const session = await this.app.freshSession();
    if (pick === 'prevweek') {
      return { start: session.previous_week_start, end: session.week_start - 1 };
    }
    const end = this.app.now();
    return { start: end - PICKS[pick], end };
  }

  showRange({ start, end }) {
    for (const b of document.querySelectorAll('#quick button')) {
      b.classList.toggle('active', b.dataset.range === this.state.pick);
    }
    this.shown = { start, end };
    $('f-start').value = start !== null && start !== undefined ? fmtInput(start) : '';
    $('f-end').value = end !== null && end !== undefined ? fmtInput(end) : '';
  }

  showZone() {
    for (const b of document.querySelectorAll('#zone button')) {
      b.classList.toggle('active', b.dataset.zone === getZone());
      b.setAttribute('aria-pressed', String(b.dataset.zone === getZone()));
    }
    $('zone-label').textContent = zoneLabel();
  }

  /** The zone changed: every time on the page is drawn again. */
  redrawTimes() {
    this.showZone();
    if (this.shown) this.showRange(this.shown);
    this.redrawHistogram();
    this.redrawRows();
    const ev = this.events.get(this.state.event);
    if (ev && !$('detail').hidden) this.showDetail(ev);
    this.app.request?.redraw?.();
  }

  // -- searching -------------------------------------------------------------------------
  /** Run the search: the first page and the histogram, in parallel. */
  async search() {
    const seq = ++this.seq;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = new AbortController();
    const range = await this.currentRange();
    this.showRange(range);
    $('f-query').value = this.state.q;
    $('f-kind').value = valuesOf(this.state.q, 'kind').length === 1 ? valuesOf(this.state.q, 'kind')[0] : '';
    this.events.clear();
    this.next = null;
    this.fresh = 0;
    this.lastHistogram = null;
    $('rows').replaceChildren();
    $('search-error').textContent = '';
    $('key-hint').replaceChildren();
    $('key-hint').hidden = true;
    $('facets').replaceChildren();
    const wanted = this.state.event;
    this.closeDetail(false);
    this.state.event = wanted;
    let params;
    try {
      params = toParams(this.state.q);
    } catch (err) {
      this.query = null;
      $('more').textContent = '';
      $('search-error').textContent = err.message;
      $('histogram').replaceChildren();
      return;
    }
    this.query = { ...params, start: range.start, end: range.end };
    $('more').textContent = 'Searching…';
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
    await Promise.all([this.drawFacets(seq), this.keyHint(seq), this.restoreSelection(wanted)]);
    if (!current()) return;
    $('view-search').dataset.searches = String(seq); // done: for the benchmark and tests
    if (this.tail) this.restartTail();
  }

  fail(err, { keepRows = false } = {}) {
    if (err?.name === 'AbortError') return;
    $('search-error').textContent = err?.message || String(err);
    if (!keepRows) $('more').textContent = '';
  }

  /** A pasted request key or trace id: find its request (and its events if no message has it). */
  async keyHint(seq) {
    const terms = parse(this.state.q);
    if (terms.length !== 1 || terms[0].field || terms[0].negate || !looksLikeKey(terms[0].value)) return;
    const key = terms[0].value;
    let found;
    try {
      found = await api('/api/v1/events', { request_key: key, limit: 1 }, { signal: this.ctrl.signal });
    } catch {
      return;
    }
    if (seq !== this.seq || !found.events.length) return;
    const hint = $('key-hint');
    const none = this.events.size === 0;
    hint.replaceChildren(
      el('span', {}, none ? `No message contains “${key}”, but it is a request key.`
        : `“${key}” is also a request key.`),
      el('button', { type: 'button', id: 'key-open', onclick: () => this.app.openRequest(key) }, 'Open the request'),
      el('button', { type: 'button', id: 'key-filter',
        onclick: () => this.change({ q: term('request_key', key) }) }, `Search ${term('request_key', key)}`));
    hint.hidden = false;
  }

  async drawFacets(seq) {
    try {
      await renderFacets($('facets'), {
        params: this.query, histogram: this.lastHistogram, events: [...this.events.values()],
        extra: this.extraFacets, signal: this.ctrl.signal,
        onPick: (field, value, negate) => this.filterBy(field, value, negate),
        onExtra: (fields) => {
          this.extraFacets = fields;
          saveExtraFacets(fields);
          this.drawFacets(this.seq);
        },
      });
    } catch (err) {
      if (seq === this.seq && err?.name !== 'AbortError') $('facets').textContent = err.message;
    }
  }

  /** Add `field:value` (or its exclusion) to the search. */
  filterBy(field, value, negate = false) {
    this.change({ q: addTerm(this.state.q, field, value, negate) });
  }

  redrawHistogram() {
    if (!this.lastHistogram) return;
    renderHistogram($('histogram'), this.lastHistogram, (start, end) => {
      this.change({ pick: null, start, end });
    }, { live: !!this.tail && this.rolling() });
  }

  // -- rows and columns ------------------------------------------------------------------
  drawHead() {
    const sortable = { received: 'received', instant: 'instant' };
    $('results-head').replaceChildren(el('tr', {}, this.columns.map((name) => {
      const sort = sortable[name];
      const active = sort && this.state.sort === sort;
      return el('th', { class: `c-${name.replace(/[^\w-]/g, '_')}${sort ? ' sortable' : ''}`,
        dataset: sort ? { sort, column: name } : { column: name },
        title: sort ? `sort by ${columnTitle(name)}, newest first` : null,
        'aria-sort': active ? 'descending' : null },
      columnTitle(name), active ? ' ↓' : '');
    })));
  }

  drawChooser() {
    if ($('columns').hidden) return;
    renderChooser($('columns'), this.columns, (columns) => this.setColumns(columns));
  }

  setColumns(columns) {
    this.columns = columns;
    saveColumns(columns);
    this.drawHead();
    this.redrawRows();
    this.drawChooser();
  }

  /** The events in the order shown: as the server pages them (received), or by instant. */
  ordered() {
    const all = [...this.events.values()];
    if (this.state.sort === 'instant') {
      all.sort((a, b) => (b.instant ?? 0) - (a.instant ?? 0) || b.id - a.id);
    } else all.sort((a, b) => b.id - a.id);
    return all;
  }

  redrawRows() {
    const selected = this.state.event;
    $('rows').replaceChildren(...this.ordered().map((ev) => this.row(ev, false, ev.id === selected)));
  }

  resort() {
    this.drawHead();
    this.redrawRows();
    this.sayMore();
  }

  addPage(page) {
    for (const ev of page.events) this.events.set(ev.id, ev);
    this.next = page.next;
    if (this.state.sort === 'instant') this.redrawRows();
    else {
      const shown = new Set([...$('rows').children].map((tr) => Number(tr.dataset.id)));
      $('rows').append(...page.events.filter((ev) => !shown.has(ev.id)).map((ev) => this.row(ev)));
    }
    this.sayMore();
    if (this.next) requestAnimationFrame(() => this.moreIfVisible());
  }

  sayMore() {
    const shown = this.events.size;
    const sorted = this.state.sort === 'instant' && shown
      ? ` Sorted by when they happened (instant) among the ${shown} loaded; pages load by receive time.` : '';
    $('more').textContent = (this.next ? 'Loading more as you scroll…'
      : shown ? `${shown} events shown: that is all of them.` : 'No event matches.') + sorted;
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

  row(ev, fresh = false, selected = false) {
    this.events.set(ev.id, ev);
    const cls = [isError(ev) ? 'is-error' : '', fresh ? 'fresh' : '', selected ? 'selected' : ''];
    const cells = this.columns.map((name) => {
      const td = cell(ev, name);
      if (td.dataset.field) {
        td.append(el('span', { class: 'cell-tools' },
          el('button', { type: 'button', class: 'mini', dataset: { act: 'filter' }, title: `search ${td.dataset.field}:${td.dataset.value}` }, '+'),
          hasQueryLanguage() ? el('button', { type: 'button', class: 'mini', dataset: { act: 'exclude' },
            title: `exclude ${td.dataset.field}:${td.dataset.value}` }, '−') : null));
      }
      return td;
    });
    return el('tr', { dataset: { id: ev.id }, class: cls.filter(Boolean).join(' ') || null,
      title: `#${ev.id}` }, cells);
  }

  onRowClick(e) {
    const act = e.target.closest('button[data-act]');
    const td = e.target.closest('td[data-field]');
    if (act && td) {
      e.stopPropagation();
      const ev = this.events.get(Number(td.closest('tr').dataset.id));
      const value = String(cellValue(ev, td.dataset.field) ?? td.dataset.value);
      this.filterBy(td.dataset.field, value, act.dataset.act === 'exclude');
      return;
    }
    const tr = e.target.closest('tr[data-id]');
    if (tr) this.select(Number(tr.dataset.id));
  }

  /** Show an event's fields (fetching it when it is not among the rows: a shared link). */
  async select(id, { remember = true } = {}) {
    let ev = this.events.get(id);
    if (!ev) {
      try {
        ev = await api(`/api/v1/events/${id}`);
      } catch (err) {
        $('search-error').textContent = `event #${id}: ${err.message}`;
        return;
      }
    }
    for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
    document.querySelector(`#rows tr[data-id="${id}"]`)?.classList.add('selected');
    this.state.event = id;
    if (!this.events.has(id)) this.events.set(id, ev);
    this.showDetail(ev);
    if (remember) this.remember();
  }

  async restoreSelection(id) {
    if (id !== null && id !== undefined) await this.select(id, { remember: false });
  }

  showDetail(ev) {
    this.app.showEvent($('detail'), ev, {
      onFilter: (field, value, negate) => this.filterBy(field, value, negate),
      canExclude: hasQueryLanguage(),
      onColumn: (field) => { if (!this.columns.includes(field)) this.setColumns([...this.columns, field]); },
    });
  }

  closeDetail(remember) {
    $('detail').hidden = true;
    for (const tr of document.querySelectorAll('#rows tr.selected')) tr.classList.remove('selected');
    this.state.event = null;
    if (remember) this.remember();
  }

  // -- live tail -------------------------------------------------------------------------
  tailParams() {
    return this.query ? Object.fromEntries(Object.entries(this.query)
      .filter(([k]) => k !== 'start' && k !== 'end')) : {};
  }

  /** Does the range run up to now (a quick pick other than the previous week)? */
  rolling() { return !!this.state.pick && this.state.pick !== 'prevweek'; }

  /** Continue after the newest event shown when the range runs up to now. */
  resumeId() {
    if (!this.rolling() || !this.events.size) return null;
    return Math.max(...this.events.keys());
  }

  toggleLive() {
    if (this.tail) {
      this.tail.stop();
      this.tail = null;
      $('live').setAttribute('aria-pressed', 'false');
      $('pause').hidden = true;
      $('view-search').classList.remove('is-live');
      this.redrawHistogram();
      return;
    }
    $('live').setAttribute('aria-pressed', 'true');
    $('pause').hidden = false;
    $('view-search').classList.add('is-live');
    this.restartTail();
    this.redrawHistogram();
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
    if (this.lastHistogram && this.rolling() && addEvent(this.lastHistogram, ev)) this.redrawHistogram();
    this.liveState('live');
    if ($('more').textContent.startsWith('No event matches.')) $('more').textContent = '';
  }

  liveState(state, detail = '') {
    const status = $('live-status');
    status.dataset.state = state;
    const texts = { live: `live${this.fresh ? ` · ${this.fresh} new` : ''}`, paused: 'paused',
      connecting: 'connecting…', reconnecting: 'reconnecting…', stopped: '' };
    const ignored = state !== 'stopped' && !this.rolling() ? 'new events of any time: the range is ignored' : '';
    status.textContent = [texts[state] ?? state, detail, ignored].filter(Boolean).join(' · ');
    $('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
  }
}
