// The search box holds one query string: `field:value` terms (`-field:value` excludes),
// `field:"a phrase"`, and bare words that search the message (`*` wildcards). Facets, the
// kind menu and clicks on values only edit this string, so they are views of it.
//
// When the server takes the query language (`query` on GET /api/v1/events, found in
// /openapi.json) the string is sent as is. Before that, the page translates the terms the
// older parameters can express (kind, module_name, message_type, src, stream, request_key,
// the message) and says which terms it cannot.

/** Fields the older parameters can filter on: query field → parameter. */
export const PARAMS = { kind: 'kind', module_name: 'module', message_type: 'type', src: 'src',
  stream: 'stream', request_key: 'request_key' };

let queryLanguage = false;
let stats = false;
export const hasQueryLanguage = () => queryLanguage;
/** Does the server answer GET /api/v1/stats (counts by field for the facets)? */
export const hasStats = () => stats;

/** Does this server take `query`? (Its OpenAPI description says.) */
export async function detectQueryLanguage() {
  try {
    const res = await fetch('/openapi.json', { cache: 'no-store', credentials: 'omit' });
    const doc = await res.json();
    const params = doc?.paths?.['/api/v1/events']?.get?.parameters ?? [];
    queryLanguage = params.some((p) => p?.name === 'query');
    stats = queryLanguage && !!doc?.paths?.['/api/v1/stats']?.get;
  } catch {
    queryLanguage = false;
    stats = false;
  }
  return queryLanguage;
}

// A field may hold keys in quotes after a dot: attributes."service.version".
const TOKEN = /(-?)(?:([A-Za-z_](?:[\w.]|(?<=\.)"[^"]*")*):)?("(?:[^"\\]|\\.)*"|\S+)/g;

/** 'module_name:shop -kind:general pay*' → [{field, value, negate}, {field: null, value}] */
export function parse(text) {
  const terms = [];
  for (const m of (text ?? '').matchAll(TOKEN)) {
    const [, minus, field, raw] = m;
    const quoted = raw.startsWith('"') && raw.endsWith('"') && raw.length > 1;
    const value = quoted ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (!field && !quoted && ['AND', 'OR', 'NOT'].includes(raw)) {
      terms.push({ field: null, value: raw, negate: !!minus, operator: true });
    } else terms.push({ field: field ?? null, value, negate: !!minus, quoted });
  }
  return terms;
}

/** A value as it goes in the query: quoted when it has spaces, quotes or parentheses. */
export function quote(value) {
  const s = String(value);
  return /^[^\s"()]+$/.test(s) && !['AND', 'OR', 'NOT'].includes(s) ? s
    : `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

export function term(field, value, negate = false) {
  return `${negate ? '-' : ''}${field}:${quote(value)}`;
}

export function serialize(terms) {
  return terms.map((t) => (t.operator ? t.value
    : t.field ? term(t.field, t.value, t.negate) : `${t.negate ? '-' : ''}${t.quoted ? quote(t.value) : t.value}`))
    .join(' ');
}

/** The query with `field:value` added (or its exclusion), replacing its opposite. */
export function addTerm(text, field, value, negate = false) {
  const terms = parse(text).filter((t) => !(t.field === field && t.value === String(value)));
  terms.push({ field, value: String(value), negate });
  return serialize(terms);
}

/** The query with every term on `field` replaced by `field:value` (none if value is ''). */
export function setField(text, field, value) {
  const terms = parse(text).filter((t) => t.field !== field);
  if (value) terms.unshift({ field, value: String(value), negate: false });
  return serialize(terms);
}

/** The values of the positive terms on `field`. */
export function valuesOf(text, field) {
  return parse(text).filter((t) => t.field === field && !t.negate).map((t) => t.value);
}

/**
 * The API parameters for a query string: `{query}` with the query language, else the older
 * parameters. Throws an Error naming the term when the older parameters cannot express it.
 */
export function toParams(text) {
  const trimmed = (text ?? '').trim();
  if (queryLanguage) return trimmed ? { query: trimmed } : {};
  const params = {};
  const words = [];
  const kinds = [];
  for (const t of parse(trimmed)) {
    if (t.operator || t.negate) throw new Error(unsupported(t));
    if (t.field === null) words.push(t.value);
    else if (t.field === 'kind') kinds.push(t.value);
    else if (t.field in PARAMS && !(PARAMS[t.field] in params)) params[PARAMS[t.field]] = t.value;
    else throw new Error(unsupported(t));
  }
  if (kinds.length) params.kind = kinds.join(',');
  if (words.length) params.message = words.join(' ');
  return params;
}

function unsupported(t) {
  const what = t.operator ? t.value : t.field ? term(t.field, t.value, t.negate) : `-${t.value}`;
  return `This server does not take the query language yet: “${what}” cannot be searched. ` +
    `Use field:value on ${Object.keys(PARAMS).join(', ')} and words of the message.`;
}

/** Does the string look like a request key or trace id someone pasted (one token, no field)? */
export function looksLikeKey(text) {
  const t = (text ?? '').trim();
  return /^[A-Za-z0-9][A-Za-z0-9._:\-]{5,199}$/.test(t) && !t.includes('*') && !/^\d+$/.test(t);
}
