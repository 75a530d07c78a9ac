"""The permanent error-group tables, kept behind the writer like the request-key index.

``lc_error_groups`` holds one row per fingerprint (ingest/fingerprint.py): its count,
first and last seen, a representative message, the newest example and its status;
``lc_error_hours`` its count per hour (for counts over a range and sparklines). Neither is
rotated: a group outlives the weekly tables that held its events.

The writer does not touch them: a random-key upsert per error in the write transaction
would cost ingest what the request-key index cost it (docs/architecture.md), and on
PostgreSQL two writer lanes updating one group row while committing in ticket order could
deadlock. Instead :func:`index_errors` runs with the request-key reindex (SQLite: the
writer's ``Reindex`` task; PostgreSQL: the indexer thread, under its lock), reads the
error rows above the ``errors`` watermark in ``lc_index_state`` and folds them in. Reads
add the few rows above the watermark themselves (query/errors.py), so they are exact.

A ``resolved`` group that gets an occurrence inserted after it was resolved becomes
``regressed``, and ``regressed_id`` is that occurrence's id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from logcycle import cycles
from logcycle.store import schema

STATUSES = ("unresolved", "resolved", "ignored", "regressed")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
KEEP_DAYS_MS = 400 * DAY_MS  # daily rows: a sparkline or a count over a year and a bit
WATERMARK = "errors"
_CHUNK = 500
GROUP_COLUMNS = ("fingerprint", "module_name", "message", "count", "first_seen", "last_seen",
                 "first_id", "last_id", "last_request_key", "status", "status_changed",
                 "regressed_id")


def ddl(d: schema.Dialect) -> list[str]:
    b, t = d.bigint, d.text
    return [
        f"CREATE TABLE IF NOT EXISTS lc_error_groups (fingerprint {t} PRIMARY KEY, "
        f"module_name {t}, message {t}, count {b} NOT NULL, first_seen {b} NOT NULL, "
        f"last_seen {b} NOT NULL, first_id {b} NOT NULL, last_id {b} NOT NULL, "
        f"last_request_key {t}, status {t} NOT NULL, status_changed {b} NOT NULL, "
        f"regressed_id {b})",
        f"CREATE TABLE IF NOT EXISTS lc_error_hours (fingerprint {t} NOT NULL, hour {b} NOT NULL, "
        f"count {b} NOT NULL, PRIMARY KEY (fingerprint, hour))",
        "CREATE INDEX IF NOT EXISTS lc_error_groups_first ON lc_error_groups (first_id)",
    ]


def watermark_sql(d: schema.Dialect) -> str:
    return f"SELECT watermark FROM lc_index_state WHERE name = '{WATERMARK}' AND cycle = 0"


def pending_sql(cycle: int, d: schema.Dialect, extra: str = "") -> str:
    """Per fingerprint, the error rows of ``cycle`` with ``low < id <= high`` (two
    parameters, then those of ``extra``): count, first/last insert instant, first/last id."""
    p = d.param
    return (f"SELECT fingerprint, count(*), min(insert_instant), max(insert_instant), "
            f"min(id), max(id) FROM {schema.table('error', cycle)} WHERE id > {p} AND "
            f"id <= {p} AND fingerprint IS NOT NULL{extra} GROUP BY fingerprint")


def _greatest(d: schema.Dialect) -> str:
    return "max" if d.name == "sqlite" else "GREATEST"


def upsert_sql(d: schema.Dialect) -> str:
    g = _greatest(d)
    regress = ("lc_error_groups.status = 'resolved' AND "
               "excluded.last_seen > lc_error_groups.status_changed")
    return (
        f"INSERT INTO lc_error_groups ({', '.join(GROUP_COLUMNS)}) VALUES "
        f"({d.params(9)}, 'unresolved', {d.param}, NULL) ON CONFLICT (fingerprint) DO UPDATE SET "
        "count = lc_error_groups.count + excluded.count, "
        f"last_seen = {g}(lc_error_groups.last_seen, excluded.last_seen), "
        "module_name = excluded.module_name, message = excluded.message, "
        "last_id = excluded.last_id, last_request_key = excluded.last_request_key, "
        f"status = CASE WHEN {regress} THEN 'regressed' ELSE lc_error_groups.status END, "
        f"regressed_id = CASE WHEN {regress} THEN excluded.first_id "
        "ELSE lc_error_groups.regressed_id END, "
        f"status_changed = CASE WHEN {regress} THEN excluded.last_seen "
        "ELSE lc_error_groups.status_changed END")


def hours_sql(d: schema.Dialect) -> str:
    return (f"INSERT INTO lc_error_hours (fingerprint, hour, count) VALUES ({d.params(3)}) "
            "ON CONFLICT (fingerprint, hour) DO UPDATE SET "
            "count = lc_error_hours.count + excluded.count")


Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def examples(fetch: Fetch, cycle: int, ids: list[int], d: schema.Dialect) -> \
        dict[int, tuple[Any, ...]]:
    """``id -> (module_name, message, request_key)`` of the given error rows."""
    out: dict[int, tuple[Any, ...]] = {}
    for i in range(0, len(ids), _CHUNK):
        part = ids[i:i + _CHUNK]
        rows = fetch(f"SELECT id, module_name, message, request_key FROM "
                     f"{schema.table('error', cycle)} WHERE id IN ({d.params(len(part))})", part)
        out.update({int(r[0]): tuple(r[1:]) for r in rows})
    return out


def index_errors(conn: Any, d: schema.Dialect, high: int) -> int:
    """Fold the error rows with ids up to ``high`` above the watermark into the group
    tables, and move the watermark (in the caller's transaction); the rows folded."""
    p = d.param
    row = conn.execute(watermark_sql(d)).fetchone()
    low = int(row[0]) if row else 0
    if low >= high:
        return 0
    held = [int(c) for (c,) in conn.execute(
        "SELECT cycle FROM lc_cycles WHERE week IS NOT NULL").fetchall()]
    done = 0
    for c in sorted(held):
        groups = conn.execute(pending_sql(c, d), (low, high)).fetchall()
        if not groups:
            continue
        ex = examples(lambda q, a: conn.execute(q, a).fetchall(), c, [int(g[5]) for g in groups], d)
        conn.cursor().executemany(upsert_sql(d), [
            (fp, *ex[int(last_id)][:2], n, first, last, first_id, last_id, ex[int(last_id)][2],
             first) for fp, n, first, last, first_id, last_id in groups])
        hours = conn.execute(
            f"SELECT fingerprint, insert_instant / {HOUR_MS}, count(*) FROM "
            f"{schema.table('error', c)} WHERE id > {p} AND id <= {p} AND fingerprint IS NOT "
            "NULL GROUP BY 1, 2", (low, high)).fetchall()
        conn.cursor().executemany(hours_sql(d), [(fp, int(h) * HOUR_MS, n)
                                                 for fp, h, n in hours])
        done += sum(int(g[1]) for g in groups)
    conn.execute("INSERT INTO lc_index_state (name, cycle, watermark) VALUES "
                 f"('{WATERMARK}', 0, {p}) ON CONFLICT (name, cycle) DO UPDATE SET "
                 "watermark = excluded.watermark", (high,))
    return done


def prune_hours(conn: Any, d: schema.Dialect, now_ms: int, retention_weeks: int) -> int:
    """Bound ``lc_error_hours`` (in the caller's transaction, at each maintenance): hours
    are kept while the weekly tables may hold their events (the retention and the
    current week, plus one), older hours become one row per UTC day (the row at the day's
    first hour: the sparklines count by day), and days older than ``KEEP_DAYS_MS`` go
    (a group keeps its total, first and last seen in ``lc_error_groups``). The rows
    removed."""
    p = d.param
    cutoff = now_ms - (retention_weeks + 2) * WEEK_MS
    cutoff -= cutoff % DAY_MS
    older = f"hour < {p} AND (hour / {DAY_MS}) * {DAY_MS} <> hour"  # not a day's first hour
    conn.execute(f"INSERT INTO lc_error_hours (fingerprint, hour, count) SELECT fingerprint, "
                 f"(hour / {DAY_MS}) * {DAY_MS}, sum(count) FROM lc_error_hours WHERE {older} "
                 "GROUP BY 1, 2 ON CONFLICT (fingerprint, hour) DO UPDATE SET "
                 "count = lc_error_hours.count + excluded.count", (cutoff,))
    removed = conn.execute(f"DELETE FROM lc_error_hours WHERE {older}", (cutoff,)).rowcount
    removed += conn.execute(f"DELETE FROM lc_error_hours WHERE hour < {p}",
                            (now_ms - KEEP_DAYS_MS,)).rowcount
    return int(removed)


def status_sql(d: schema.Dialect) -> str:
    """Set a group's status (status, changed at, fingerprint)."""
    p = d.param
    return (f"UPDATE lc_error_groups SET status = {p}, status_changed = {p} "
            f"WHERE fingerprint = {p}")


def held_cycles(held: dict[int, int | None]) -> list[int]:
    return sorted(c for c, w in held.items() if w is not None and 0 <= c < cycles.CYCLES)
