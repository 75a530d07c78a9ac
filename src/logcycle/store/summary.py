"""Duration summaries kept behind the writer: per cycle, ``lc_sum_<cycle>`` holds one row
per (kind, hour of ``insert_instant``, name) of the kinds with a duration and a name
(screens, integrations, mobile requests, cyclic jobs, extensions), so that "p95 of
``duration_ms`` per screen this week" reads about a thousand rows instead of every event.

A row holds the count, the count with a duration, the count of failed events (an
``error_id``, or for a top-level event an error event of its request: query/stats.py's
``failed_sql``, as of the errors up to the watermark; an error that comes after its
request was folded adds to the row then), the sum, min and max of ``duration_ms`` (all
exact) and a quantile sketch: a fixed-bucket log
histogram whose bucket ``i`` holds the durations in ``(GAMMA^(i-1-OFFSET),
GAMMA^(i-OFFSET)]`` (bucket 0: below ``ZERO_BELOW``). A percentile is then the bucket of
its exact rank, answered by the bucket's relative midpoint, within ``ALPHA`` (0.8%) of the
true value; the issue allows 1%. The sketch is kept as one integer of ``BITS``-bit fields
(bucket i at bit ``BITS*i``): merging two sketches is one integer addition, so a week of
rows is merged in microseconds, and it is stored as bytes (``encode``).

The writer's Reindex task (SQLite; on PostgreSQL the reindex thread) folds the rows above
the cycle's watermark (``lc_index_state``, name ``sum``) in one ``GROUP BY`` per kind
and cycle and rewrites the few rows it touched (the hour's, contiguous in the primary key,
so a step dirties a few pages): like the request-key index, never in the write path.
Readers use a row only for hours wholly inside their range and ids up to the watermark,
and read the rest exactly from the events (query/summarized.py).

    sk = add(0, bucket(120.0))          # one value
    quantile(counts(sk), 95, lo, hi)    # ≈ 120.0, within ALPHA
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from typing import Any

from logcycle.cycles import CYCLES
from logcycle.kinds import KINDS
from logcycle.store import schema
from logcycle.store.schema import Dialect

ALPHA = 0.008  # relative error of a percentile (the issue allows 0.01)
GAMMA = (1 + ALPHA) / (1 - ALPHA)
INV_LN_GAMMA = 1 / math.log(GAMMA)
ZERO_BELOW = 1e-3  # durations below this (zero, in practice) share bucket 0
OFFSET = 1 - math.ceil(math.log(ZERO_BELOW) * INV_LN_GAMMA)  # bucket of ZERO_BELOW is 1
BITS = 40  # a bucket's count: up to 2^40 per row and merge
MASK = (1 << BITS) - 1
HOUR_MS = 3_600_000
STATE = "sum"
STEP_IDS = 200_000  # ids folded per cycle and step, at most
# The kinds summarized and the fields that name a row: (first, second or None). An
# integration's second is is_expose, so the exposed and the consumed ones stay apart.
NAMES: dict[str, tuple[str, str | None]] = {
    "screen": ("screen", None),
    "integration": ("endpoint", "is_expose"),
    "mobile_request": ("endpoint", None),
    "cyclic_job": ("cyclic_job_name", None),
    "extension": ("extension_name", "action_name"),
}
FIELD = "duration_ms"


def table(cycle: int) -> str:
    if not 0 <= cycle < CYCLES:
        raise ValueError(f"no cycle {cycle!r}")
    return f"lc_sum_{cycle}"


def ddl(d: Dialect) -> list[str]:
    blob = "BLOB" if d.name == "sqlite" else "BYTEA"
    tail = " WITHOUT ROWID" if d.name == "sqlite" else ""
    return [f"CREATE TABLE IF NOT EXISTS {table(c)} (kind INTEGER NOT NULL, "
            f"hour {d.bigint} NOT NULL, n1 {d.text} NOT NULL, n2 {d.text} NOT NULL, "
            f"n {d.bigint} NOT NULL, nv {d.bigint} NOT NULL, e {d.bigint} NOT NULL, "
            f"s {d.real} NOT NULL, lo {d.real}, hi {d.real}, sketch {blob} NOT NULL, "
            f"PRIMARY KEY (kind, hour, n1, n2)){tail}" for c in range(CYCLES)]


def name_exprs(kind: str) -> tuple[str, str]:
    """SQL of a row's two names (text; '' for none; is_expose as 'true'/'false')."""
    first, second = NAMES[kind]
    if second is None:
        return f"COALESCE({first}, '')", "''"
    if second == "is_expose":
        return (f"COALESCE({first}, '')",
                "CASE WHEN is_expose THEN 'true' WHEN NOT is_expose THEN 'false' ELSE '' END")
    return f"COALESCE({first}, '')", f"COALESCE({second}, '')"


def bucket_sql(expr: str) -> str:
    """The bucket of a duration, in SQL (``ln``, ``ceil``: SQLite's math functions, or
    Python's where SQLite was built without them, see :func:`ensure_math`)."""
    return (f"CASE WHEN {expr} < {ZERO_BELOW!r} THEN 0 ELSE CAST(ceil(ln({expr}) * "
            f"{INV_LN_GAMMA!r}) AS INTEGER) + {OFFSET} END")


def bucket(v: float) -> int:
    """The bucket of a duration, as :func:`bucket_sql` computes it."""
    if v < ZERO_BELOW:
        return 0
    return math.ceil(math.log(v) * INV_LN_GAMMA) + OFFSET


def value_of(i: int) -> float:
    """What bucket ``i`` answers: the point within ALPHA of every value in it."""
    if i <= 0:
        return 0.0
    return 2 * GAMMA ** (i - OFFSET) / (GAMMA + 1)


def add(sketch: int, i: int, n: int = 1) -> int:
    return sketch + (n << (BITS * i))


def from_counts(found: dict[int, int]) -> int:
    """The sketch of {bucket: count}, built at once (one integer, not one per bucket)."""
    if not found:
        return 0
    low, high = min(found), max(found)
    raw = bytearray(BITS // 8 * (high - low + 1))
    for i, c in found.items():
        at = BITS // 8 * (i - low)
        raw[at:at + BITS // 8] = c.to_bytes(BITS // 8, "little")
    return int.from_bytes(raw, "little") << (BITS * low)


def encode(sketch: int) -> bytes:
    """``sketch`` as bytes: the first bucket that holds anything (4 bytes), then the
    fields from there (little-endian)."""
    if sketch == 0:
        return b"\0\0\0\0"
    low = (sketch & -sketch).bit_length() // BITS  # the lowest non-empty bucket
    rest = sketch >> (BITS * low)
    return low.to_bytes(4, "little") + rest.to_bytes((rest.bit_length() + 7) // 8, "little")


def decode(blob: bytes | memoryview) -> int:
    data = bytes(blob)
    low = int.from_bytes(data[:4], "little")
    return int.from_bytes(data[4:], "little") << (BITS * low)


def counts(sketch: int) -> Iterator[tuple[int, int]]:
    """(bucket, count) of the non-empty buckets, lowest first."""
    i = 0
    while sketch:
        c = sketch & MASK
        if c:
            yield i, c
        sketch >>= BITS
        i += 1


def quantiles(sketch: int, ranks: list[int], lo: float, hi: float) -> list[float]:
    """The values at the given 1-based ``ranks`` (ascending), each the midpoint of its
    bucket kept within the exact [lo, hi] of the values."""
    out: list[float] = []
    seen = 0
    todo = iter(ranks)
    want = next(todo, None)
    for i, c in counts(sketch):
        seen += c
        while want is not None and want <= seen:
            out.append(min(hi, max(lo, value_of(i))))
            want = next(todo, None)
        if want is None:
            break
    return out


def ensure_math(conn: sqlite3.Connection) -> None:
    """SQLite built without its math functions gets ``ln`` and ``ceil`` from Python."""
    try:
        conn.execute("SELECT ln(2.0), ceil(1.5)").fetchone()
    except sqlite3.OperationalError:
        conn.create_function("ln", 1, math.log, deterministic=True)
        conn.create_function("ceil", 1, math.ceil, deterministic=True)


def empty_cycle_sql(cycle: int) -> str:
    return f"DELETE FROM {table(cycle)}"


def copy(conn: Any, d: Dialect, high: int, *, step: int | None = None) -> tuple[int, bool]:
    """Fold the rows with ids up to ``high`` above each cycle's watermark into the
    summaries and move the watermarks (inside the caller's transaction), at most ``step``
    ids from a cycle's first new row at once (a store upgraded with weeks of events catches
    up over several steps instead of holding the writer for a minute); the rows folded
    and whether some cycle is still behind ``high``."""
    p = d.param
    step = STEP_IDS if step is None else step
    marks = {int(c): int(w) for c, w in conn.execute(
        f"SELECT cycle, watermark FROM lc_index_state WHERE name = {p}", (STATE,)).fetchall()}
    done = 0
    behind = False
    for c in range(CYCLES):
        low = marks.get(c, 0)
        if low >= high:
            continue
        first = _first_id(conn, d, c, low, high)  # in practice, the current week's only
        upto = high if first is None else min(high, first - 1 + step)
        if first is not None:
            late = bool(low) and new_errors(conn, d, c, low, upto)
            for kind in NAMES:
                done += _fold(conn, d, kind, c, low, upto, late=late)
        behind = behind or upto < high
        conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES "
                     f"({p}, {p}, {p}) ON CONFLICT (name, cycle) DO UPDATE SET "
                     "watermark = excluded.watermark", (STATE, c, upto))
    return done, behind


_Acc = list[Any]  # [n, nv, e, s, lo, hi, sketch]


def request_failed(kind: str, cycle: int, d: Dialect) -> str | None:
    """SQL true for an event of ``kind`` (a table aliased ``t``) that opens a request with
    an error event, through the request-key index (so only errors indexed, up to its
    watermark); None for the kinds whose events are not top-level."""
    if not KINDS[kind].top_level:
        return None
    found = _has_error(cycle, d, "t.request_key")
    return f"(t.is_expose AND {found})" if kind == "integration" else found


def _has_error(cycle: int, d: Dialect, key: str, below: str = "") -> str:
    """SQL true when the request ``key`` has an error event in the request-key index
    (with an id up to ``below``, when given). PostgreSQL's index keeps hashes of the
    keys: the error's own key is checked too."""
    err = schema.KIND_NUMBER["error"]
    rk = schema.rk_table(cycle)
    upto = f" AND rk.id <= {below}" if below else ""
    if d.name == "sqlite":
        return (f"EXISTS (SELECT 1 FROM {rk} AS rk WHERE "
                f"{schema.rk_segments('error', cycle, 'rk', d)}rk.request_key = {key} "
                f"AND rk.kind = {err}{upto})")
    return (f"EXISTS (SELECT 1 FROM {rk} AS rk JOIN {schema.table('error', cycle)} AS x "
            f"ON x.id = rk.id WHERE rk.rk = {schema.rk_value(key, d)} AND rk.kind = {err}"
            f"{upto} AND x.request_key = {key})")


def failed_expr(kind: str, cycle: int, d: Dialect) -> str:
    """1 for a failed event (query.stats.failed_sql), errors known to the index only."""
    parts = [*(["t.error_id IS NOT NULL"] if "error_id" in KINDS[kind].columns else []),
             *filter(None, [request_failed(kind, cycle, d)])]
    return f"CASE WHEN {' OR '.join(parts)} THEN 1 ELSE 0 END" if parts else "0"


def exact_failed(kind: str, cycle: int, d: Dialect, rk_mark: int) -> str:
    """query.stats.failed_sql for a few rows of a table aliased ``t``: the request's
    errors looked up through the request-key index, and among the error events above
    its watermark ``rk_mark`` (a second's worth: a number in the SQL, so that the
    planner reads them by the primary key), rather than by reading every error."""
    found = request_failed(kind, cycle, d)
    own = "t.error_id IS NOT NULL" if "error_id" in KINDS[kind].columns else ""
    if found is not None:
        errors = schema.table("error", cycle)
        tail = (f"EXISTS (SELECT 1 FROM {errors} AS x WHERE x.id > {int(rk_mark)} "
                "AND x.request_key = t.request_key)")
        if kind == "integration":
            tail = f"(t.is_expose AND {tail})"
        found = f"{found} OR {tail}"
    parts = [x for x in (own, found) if x]
    return f"CASE WHEN {' OR '.join(parts)} THEN 1 ELSE 0 END" if parts else "0"


def late_errors(kind: str, cycle: int, d: Dialect, *, bounded: bool) -> str:
    """A WHERE fragment selecting the events of ``kind`` (aliased ``t``) with ids up to
    ``mark`` that became failed by an error event with an id above ``mark`` (and up to
    ``high`` when ``bounded``): top-level, without an ``error_id``, and no error of their
    request up to ``mark``; read from those errors through the request-key index.
    Parameters: :func:`late_params`."""
    p = d.param
    col = schema.rk_column(d)
    errors = schema.table("error", cycle)
    rk = schema.rk_table(cycle)
    upper = f" AND x.id <= {p}" if bounded else ""
    new = (f"SELECT DISTINCT x.request_key AS k FROM {errors} AS x WHERE x.id > {p}{upper} "
           "AND x.request_key IS NOT NULL")
    ids = (f"SELECT r1.id FROM ({new}) AS e CROSS JOIN {rk} AS r1 WHERE "
           f"{schema.rk_segments(kind, cycle, 'r1', d)}r1.{col} = "
           f"{schema.rk_value('e.k', d)} AND r1.kind = {p} AND r1.id <= {p} "
           f"AND NOT {_has_error(cycle, d, 'e.k', p)}")
    # PostgreSQL: one id array, read by the primary key (an IN may scan the table)
    where = [f"t.id IN ({ids})" if d.name == "sqlite" else f"t.id = ANY(ARRAY({ids}))"]
    if d.name != "sqlite":  # the index holds hashes: the key itself is checked on the row
        where.append(f"t.request_key IN (SELECT x.request_key FROM {errors} AS x "
                     f"WHERE x.id > {p}{upper})")
    if "error_id" in KINDS[kind].columns:
        where.append("t.error_id IS NULL")
    if kind == "integration":
        where.append("t.is_expose")
    return " AND ".join(where)


def late_params(kind: str, d: Dialect, mark: int, high: int | None) -> list[Any]:
    """The parameters of :func:`late_errors` (``high`` None: not bounded)."""
    bound = [] if high is None else [high]
    out = [mark, *bound, schema.KIND_NUMBER[kind], mark, mark]
    return out + ([mark, *bound] if d.name != "sqlite" else [])


def _first_id(conn: Any, d: Dialect, cycle: int, low: int, high: int) -> int | None:
    """The first id in (low, high] of a summarized kind or of the errors in ``cycle``
    (None: none), in one statement of index seeks: the weeks no one writes into cost
    nothing more."""
    p = d.param
    seeks = " UNION ALL ".join(f"SELECT min(id) AS m FROM {schema.table(k, cycle)} WHERE "
                               f"id > {p} AND id <= {p}" for k in (*NAMES, "error"))
    row = conn.execute(f"SELECT min(m) FROM ({seeks}) AS s",
                       (low, high) * (len(NAMES) + 1)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def new_errors(conn: Any, d: Dialect, cycle: int, low: int, high: int) -> bool:
    """Whether error events with a request key came in (low, high] in ``cycle``."""
    p = d.param
    return conn.execute(f"SELECT 1 FROM {schema.table('error', cycle)} WHERE id > {p} AND "
                        f"id <= {p} AND request_key IS NOT NULL LIMIT 1",
                        (low, high)).fetchone() is not None


def _late(conn: Any, d: Dialect, kind: str, cycle: int, low: int, high: int) -> None:
    """Count in the summary rows the events folded before (ids up to ``low``) whose
    request got its first error event among the ids in (low, high]."""
    if not low or not KINDS[kind].top_level:
        return
    p = d.param
    n1, n2 = name_exprs(kind)
    rows = conn.execute(
        f"SELECT {n1}, {n2}, (t.insert_instant / {HOUR_MS}) * {HOUR_MS}, count(*) "
        f"FROM {schema.table(kind, cycle)} AS t WHERE "
        f"{late_errors(kind, cycle, d, bounded=True)} GROUP BY 1, 2, 3",
        late_params(kind, d, low, high)).fetchall()
    for a, b, hour, n in rows:
        conn.execute(f"UPDATE {table(cycle)} SET e = e + {p} WHERE kind = {p} AND hour = {p} "
                     f"AND n1 = {p} AND n2 = {p}",
                     (int(n), schema.KIND_NUMBER[kind], int(hour), a, b))


def _fold(conn: Any, d: Dialect, kind: str, cycle: int, low: int, high: int, *,
          late: bool) -> int:
    p = d.param
    n1, n2 = name_exprs(kind)
    err = failed_expr(kind, cycle, d)
    if late:
        _late(conn, d, kind, cycle, low, high)
    rows = conn.execute(
        f"SELECT {n1}, {n2}, (insert_instant / {HOUR_MS}) * {HOUR_MS}, "
        f"{bucket_sql(FIELD)}, count(*), count({FIELD}), sum({err}), "
        f"sum(CAST({FIELD} AS {d.real})), min({FIELD}), max({FIELD}) "
        f"FROM {schema.table(kind, cycle)} AS t WHERE id > {p} AND id <= {p} "
        "GROUP BY 1, 2, 3, 4", (low, high)).fetchall()
    if not rows:
        return 0
    folded: dict[tuple[str, str, int], _Acc] = {}
    buckets: dict[tuple[str, str, int], dict[int, int]] = {}
    total = 0
    for a, b, hour, i, n, nv, e, s, lo, hi in rows:
        key = (a, b, int(hour))
        acc = folded.get(key)
        if acc is None:
            acc = folded[key] = [0, 0, 0, 0.0, None, None, 0]
            buckets[key] = {}
        _merge(acc, [n, nv, e or 0, s or 0.0, lo, hi, 0])
        if i is not None:
            buckets[key][i] = nv
        total += n
    number = schema.KIND_NUMBER[kind]
    name = table(cycle)
    for (a, b, hour), acc in folded.items():
        acc[6] = from_counts(buckets[(a, b, hour)])
        old = conn.execute(f"SELECT n, nv, e, s, lo, hi, sketch FROM {name} WHERE kind = {p} "
                           f"AND hour = {p} AND n1 = {p} AND n2 = {p}",
                           (number, hour, a, b)).fetchone()
        if old is not None:
            _merge(acc, [int(old[0]), int(old[1]), int(old[2]), float(old[3]), old[4], old[5],
                         decode(old[6])])
        conn.execute(
            f"INSERT INTO {name} (kind, hour, n1, n2, n, nv, e, s, lo, hi, sketch) VALUES "
            f"({d.params(11)}) ON CONFLICT (kind, hour, n1, n2) DO UPDATE SET n = excluded.n, "
            "nv = excluded.nv, e = excluded.e, s = excluded.s, lo = excluded.lo, "
            "hi = excluded.hi, sketch = excluded.sketch",
            (number, hour, a, b, acc[0], acc[1], acc[2], acc[3], acc[4], acc[5],
             encode(acc[6])))
    return total


def _merge(acc: _Acc, part: _Acc) -> None:
    acc[0] += part[0]
    acc[1] += part[1]
    acc[2] += part[2]
    acc[3] += part[3]
    if part[4] is not None:
        acc[4] = part[4] if acc[4] is None else min(acc[4], part[4])
    if part[5] is not None:
        acc[5] = part[5] if acc[5] is None else max(acc[5], part[5])
    acc[6] += part[6]
