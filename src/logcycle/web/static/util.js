// Small DOM and formatting helpers. Every string from the logs reaches the page through
// text nodes (never parsed as markup), so markup in a message is shown as text.

/** Create an element: el('td', {class: 'kind', title: 'x'}, 'text', child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/** An SVG element with attributes (no style attributes: the CSP forbids inline style). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.setAttribute('class', value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : visible(String(child)));
  }
}

// C0 controls and DEL; and the bidirectional controls (embeddings, overrides, isolates,
// marks), which would reorder what follows them: 'invoice_\u202egnp.exe' shows as
// 'invoice_exe.png'.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Control characters as visible symbols: ESC shows as U+241B (its control picture), a
 *  bidi control as its code point in brackets, U+202E as "⟨U+202E⟩". */
export function visible(text) {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    if (code > 0x7f) return `\u27e8U+${code.toString(16).toUpperCase().padStart(4, '0')}\u27e9`;
    return String.fromCharCode(code === 0x7f ? 0x2421 : 0x2400 + code);
  });
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local time as 2026-11-23 15:00:00.120 */
export function fmtTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local time without seconds, for axes and headings. */
export function fmtShort(ms) {
  const d = new Date(ms);
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of an <input type=datetime-local step=1> for an instant, and back. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fromLocalInput(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** 1234 → "1.2 s", 86400000 → "1 d" */
export function fmtDuration(ms) {
  if (typeof ms !== 'number') return '';
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 6000) / 10} min`;
  if (ms < 86_400_000) return `${Math.round(ms / 360_000) / 10} h`;
  return `${Math.round(ms / 8_640_000) / 10} d`;
}

export const fmtCount = (n) => n.toLocaleString('en-US');

/** Is this event an error, or does it carry one? */
export function isError(ev) {
  return ev.kind === 'error' || !!ev.error || ev.message_type === 'Error';
}

const dur = (ev) => (typeof ev.duration_ms === 'number' ? ` · ${fmtDuration(ev.duration_ms)}` : '');
const join = (...parts) => parts.filter((p) => p !== undefined && p !== null && p !== '').join(' ');

/** One line that says what an event is about, whatever its kind. */
export function summary(ev) {
  switch (ev.kind) {
    case 'error':
    case 'general':
      return String(ev.message ?? '');
    case 'screen':
      return join(ev.screen, ev.action_name && `· ${ev.action_name}`) + dur(ev);
    case 'integration':
      return join(ev.is_expose ? 'exposed' : 'consumed', ev.type, ev.endpoint,
        ev.action && `· ${ev.action}`) + dur(ev);
    case 'mobile_request':
      return join(ev.screen, ev.endpoint) + dur(ev);
    case 'cyclic_job':
      return join(ev.cyclic_job_name) + dur(ev);
    case 'extension':
      return join(`${ev.extension_name}.${ev.action_name}`) + dur(ev);
    case 'request_event':
      return join(ev.request_event_name);
    default:
      return '';
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
