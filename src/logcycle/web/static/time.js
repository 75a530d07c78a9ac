// Times on the page: one 24-hour ISO format everywhere (2026-11-23 15:00:00.120), in one
// zone the person chooses (UTC or this browser's local zone), always named on the page.
// The choice persists (prefs.js: a display preference, never the key).

import { loadPref, savePref } from './prefs.js';

const listeners = [];
let zone = loadPref('zone', 'utc') === 'local' ? 'local' : 'utc';

export const getZone = () => zone;

/** 'utc' or 'local'; every listener redraws. */
export function setZone(value) {
  zone = value === 'local' ? 'local' : 'utc';
  savePref('zone', zone);
  for (const fn of listeners) fn(zone);
}

export function onZone(fn) { listeners.push(fn); }

/** The zone as shown beside times: "UTC" or "local (Europe/Paris, UTC+01:00)". */
export function zoneLabel(ms = Date.now()) {
  if (zone === 'utc') return 'UTC';
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  return `local (${name}, UTC${offsetText(ms)})`;
}

export function offsetText(ms) {
  const minutes = -new Date(ms).getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** The calendar parts of an instant in the chosen zone. */
function parts(ms) {
  const d = new Date(ms);
  if (zone === 'utc') {
    return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(),
      d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()];
  }
  return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(),
    d.getSeconds(), d.getMilliseconds()];
}

/** 2026-11-23 15:00:00.120 in the chosen zone. */
export function fmtTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const [y, mo, d, h, mi, s, msec] = parts(ms);
  return `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}.${pad(msec, 3)}`;
}

/** 2026-11-23 15:00:00, the value of the from/to boxes. */
export function fmtInput(ms) {
  return fmtTime(ms).slice(0, 19);
}

/** "2026-11-23 15:00[:00[.120]]" (or with a T) in the chosen zone → epoch ms; null if not a time. */
export function parseInput(value) {
  const m = /^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?\s*$/
    .exec(value ?? '');
  if (!m) return null;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((v) => Number(v ?? 0));
  const msec = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const ms = zone === 'utc' ? Date.UTC(y, mo - 1, d, h, mi, s, msec)
    : new Date(y, mo - 1, d, h, mi, s, msec).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/**
 * A formatter for axis labels `step` ms apart over [start, end]: the shortest ISO form in
 * which neighbouring labels differ (days, minutes, seconds or milliseconds).
 */
export function axisFormat(start, end, step) {
  const sameDay = fmtTime(start).slice(0, 10) === fmtTime(end).slice(0, 10);
  if (step >= 86_400_000) return (ms) => fmtTime(ms).slice(0, 10);
  if (step >= 60_000) return (ms) => (sameDay ? fmtTime(ms).slice(11, 16) : fmtTime(ms).slice(5, 16));
  if (step >= 1000) return (ms) => fmtTime(ms).slice(11, 19);
  return (ms) => fmtTime(ms).slice(11, 23);
}
