// The histogram of matching events over the chosen range, drawn as SVG from the counts
// the server computed (GET /api/v1/histogram): the share of errors of each bar in red,
// axis labels that differ and fit the range. Clicking a bar narrows the range to it. In
// Live mode, addEvent() counts each new event into its bar (the range then runs to now).

import { el, fmtCount, svg } from './util.js';
import { axisFormat, fmtTime, zoneLabel } from './time.js';

const HEIGHT = 110;
const AXIS = 18;
const LEFT = 44;
const TICK_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000,
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
  21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000];

/** The width inside the container's padding. */
function contentWidth(container) {
  const css = getComputedStyle(container);
  const width = container.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight);
  return width > 0 ? width : 900;
}

/** How many buckets to ask for, for the space the chart has. */
export function bucketsFor(container) {
  return Math.max(20, Math.min(120, Math.floor((contentWidth(container) - LEFT) / 9)));
}

/** Round instants for the axis: at most `most` ticks within [start, end], `step` apart. */
export function ticks(start, end, most) {
  const span = Math.max(1, end - start);
  const step = TICK_STEPS.find((s) => span / s <= most) ?? Math.ceil(span / most / 86_400_000) * 86_400_000;
  const out = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) out.push(t);
  return { step, ticks: out };
}

/** Count one live event into the histogram data; true if it changed. */
export function addEvent(data, ev) {
  const t = ev.insert_instant;
  if (typeof t !== 'number' || t < data.start) return false;
  while (t > data.end) {
    const last = data.buckets[data.buckets.length - 1];
    data.buckets.push({ start: last.start + data.bucket_ms, count: 0, errors: 0 });
    data.buckets.shift();
    data.start = Math.max(data.start, data.buckets[0].start);
    data.end = last.start + 2 * data.bucket_ms - 1;
  }
  const i = Math.min(data.buckets.length - 1, Math.floor((t - data.buckets[0].start) / data.bucket_ms));
  if (i < 0) return false;
  data.buckets[i].count += 1;
  data.total += 1;
  data.kinds[ev.kind] = (data.kinds[ev.kind] ?? 0) + 1;
  if (ev.kind === 'error') {
    data.buckets[i].errors = (data.buckets[i].errors ?? 0) + 1;
    data.errors = (data.errors ?? 0) + 1;
  }
  return true;
}

/**
 * @param {HTMLElement} container
 * @param {object} data  the API's answer
 * @param {(start: number, end: number) => void} onPick
 * @param {{live?: boolean}} options
 */
export function renderHistogram(container, data, onPick, { live = false } = {}) {
  const width = Math.max(300, Math.floor(contentWidth(container)));
  const counts = data.buckets.map((b) => b.count);
  const max = Math.max(1, ...counts);
  const plotW = width - LEFT - 4;
  const plotH = HEIGHT - AXIS - 8;
  const bw = plotW / Math.max(1, counts.length);
  const x0 = data.buckets.length ? data.buckets[0].start : data.start;
  const xOf = (ms) => LEFT + ((ms - x0) / (data.bucket_ms * Math.max(1, counts.length))) * plotW;
  const chart = svg('svg', {
    class: 'hist-svg', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`,
    role: 'img', 'aria-label': `${data.total} matching events over the range`,
  });
  chart.append(
    svg('text', { x: LEFT - 6, y: 12, class: 'axis', 'text-anchor': 'end' }, fmtCount(max)),
    svg('text', { x: LEFT - 6, y: HEIGHT - AXIS, class: 'axis', 'text-anchor': 'end' }, '0'),
    svg('line', { x1: LEFT, x2: width - 4, y1: HEIGHT - AXIS + 0.5, y2: HEIGHT - AXIS + 0.5,
      class: 'baseline' }),
  );
  data.buckets.forEach((bucket, i) => {
    const start = Math.max(bucket.start, data.start);
    const end = i === data.buckets.length - 1 ? data.end : Math.min(bucket.start + data.bucket_ms - 1, data.end);
    const errors = bucket.errors ?? 0;
    const h = bucket.count ? Math.max(2, (bucket.count / max) * plotH) : 0;
    const eh = errors ? Math.max(1.5, (errors / max) * plotH) : 0;
    const x = LEFT + i * bw;
    const label = `${fmtTime(start)} – ${fmtTime(end)}: ${fmtCount(bucket.count)} events` +
      (errors ? `, ${fmtCount(errors)} errors` : '');
    const barW = Math.max(1, bw - 1.5);
    chart.append(svg('g', {
      class: bucket.count ? 'bucket' : 'bucket empty',
      dataset: { start, end, count: bucket.count, errors },
      onclick: () => onPick(start, end),
    },
    svg('title', {}, label),
    svg('rect', { class: 'hit', x, y: 0, width: bw, height: HEIGHT - AXIS }),
    h ? svg('rect', { class: 'bar', x: x + 0.5, y: HEIGHT - AXIS - h, width: barW, height: h }) : null,
    eh ? svg('rect', { class: 'bar-err', x: x + 0.5, y: HEIGHT - AXIS - eh, width: barW, height: eh }) : null));
  });
  const most = Math.max(2, Math.floor(plotW / 110));
  const { step, ticks: marks } = ticks(data.start, data.end, most);
  const format = axisFormat(data.start, data.end, step);
  for (const ms of marks) {
    const x = xOf(ms);
    if (x < LEFT - 1 || x > width - 4) continue;
    const anchor = x < LEFT + 30 ? 'start' : x > width - 34 ? 'end' : 'middle';
    chart.append(svg('line', { x1: x, x2: x, y1: HEIGHT - AXIS, y2: HEIGHT - AXIS + 3, class: 'tick' }),
      svg('text', { x, y: HEIGHT - 4, class: 'axis tick-label', 'text-anchor': anchor }, format(ms)));
  }
  const kinds = Object.entries(data.kinds).map(([kind, n]) =>
    el('span', { class: `chip kind-${kind}` }, `${kind} ${fmtCount(n)}`));
  const errors = data.errors ?? 0;
  container.replaceChildren(
    el('div', { class: 'hist-head' },
      el('strong', { id: 'hist-total' }, `${fmtCount(data.total)} events`),
      errors ? el('span', { id: 'hist-errors', class: 'err-count' }, `${fmtCount(errors)} errors`) : null,
      el('span', { class: 'muted' }, live ? ` live: from ${fmtTime(data.start)} to now, counting as they arrive`
        : ` from ${fmtTime(data.start)} to ${fmtTime(data.end)}`,
      ` (${zoneLabel(data.start)}) · one bar = ${bucketLabel(data.bucket_ms)}`),
      ...kinds),
    chart);
}

function bucketLabel(ms) {
  const units = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'min'], [1000, 's'], [1, 'ms']];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${name}`;
  }
  return `${ms} ms`;
}
