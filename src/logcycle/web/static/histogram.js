// The histogram of matching events over the chosen range, drawn as SVG from the counts
// the server computed (GET /api/v1/histogram). Clicking a bar narrows the range to it.

import { el, fmtCount, fmtShort, fmtTime, svg } from './util.js';

const HEIGHT = 110;
const AXIS = 18;
const LEFT = 44;

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

/**
 * @param {HTMLElement} container
 * @param {object} data  the API's answer
 * @param {(start: number, end: number) => void} onPick
 */
export function renderHistogram(container, data, onPick) {
  const width = Math.max(300, Math.floor(contentWidth(container)));
  const counts = data.buckets.map((b) => b.count);
  const max = Math.max(1, ...counts);
  const plotW = width - LEFT - 4;
  const plotH = HEIGHT - AXIS - 8;
  const bw = plotW / Math.max(1, counts.length);
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
    const end = Math.min(bucket.start + data.bucket_ms - 1, data.end);
    const h = bucket.count ? Math.max(2, (bucket.count / max) * plotH) : 0;
    const x = LEFT + i * bw;
    const label = `${fmtTime(start)} – ${fmtTime(end)}: ${fmtCount(bucket.count)} events`;
    chart.append(svg('g', {
      class: bucket.count ? 'bucket' : 'bucket empty',
      dataset: { start, end, count: bucket.count },
      onclick: () => onPick(start, end),
    },
    svg('title', {}, label),
    svg('rect', { class: 'hit', x, y: 0, width: bw, height: HEIGHT - AXIS }),
    h ? svg('rect', { class: 'bar', x: x + 0.5, y: HEIGHT - AXIS - h, width: Math.max(1, bw - 1.5), height: h }) : null));
  });
  const ticks = Math.min(6, counts.length);
  for (let t = 0; t <= ticks; t++) {
    const ms = data.start + ((data.end - data.start) * t) / ticks;
    const x = LEFT + (plotW * t) / ticks;
    const anchor = t === 0 ? 'start' : t === ticks ? 'end' : 'middle';
    chart.append(svg('text', { x, y: HEIGHT - 4, class: 'axis', 'text-anchor': anchor }, fmtShort(ms)));
  }
  const kinds = Object.entries(data.kinds).map(([kind, n]) =>
    el('span', { class: `chip kind-${kind}` }, `${kind} ${fmtCount(n)}`));
  container.replaceChildren(
    el('div', { class: 'hist-head' },
      el('strong', { id: 'hist-total' }, `${fmtCount(data.total)} events`),
      el('span', { class: 'muted' }, ` from ${fmtTime(data.start)} to ${fmtTime(data.end)}` +
        ` · one bar = ${bucketLabel(data.bucket_ms)}`),
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
