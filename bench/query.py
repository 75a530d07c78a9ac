"""Questions by field on the 1,000,000-event week of bench/demo.py, beside DuckDB.

    .venv/bin/python bench/query.py [--events 1000000] [--rounds 5] [--data DIR]

Seeds (or reuses, when fresh) a SQLite store with bench/demo.py's week of requests, starts
`logcycle serve` on it and times over HTTP the issue's three questions: the p95 of
`duration_ms` per screen over the week (`/api/v1/stats`), a selective field filter's first
page (`attributes.user_id:<one of 50,000>`, `/api/v1/events?query=…`, with
`--index-attributes user_id`) and a histogram with a field filter. Beside each, DuckDB
answers the same question over the same rows, copied out of the store into DuckDB's own
in-memory tables first (the copy is not timed): the peer is a columnar engine with the
data already loaded, as a separate "copy optimized for querying" would be. The answers
are compared, not only the times.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server
from web import DAY, Client, fresh_store, timed

TARGETS = {"p95": 300.0, "p95 exact": 300.0, "reports": 300.0, "selective": 50.0,
           "histogram": 300.0}


class Source:
    """The store's log tables, read straight from SQLite or PostgreSQL (not through
    logcycle): what DuckDB is loaded with, and the floor of an exact answer."""

    def __init__(self, db: Path | None = None, url: str = "", schema: str = "") -> None:
        self.url, self.schema = url, schema
        if url:
            import psycopg

            self.pg = psycopg.connect(url, autocommit=True)
            self.pg.execute(f'SET search_path TO "{schema}"')
        else:
            self.lite = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def tables(self, prefix: str) -> list[str]:
        """The cycle tables (``<prefix>…_<digit>``) whose names start with ``prefix``."""
        if self.url:
            rows = self.pg.execute("SELECT table_name FROM information_schema.tables WHERE "
                                   "table_schema = %s AND table_type = 'BASE TABLE' AND "
                                   "table_name LIKE %s", (self.schema, prefix + "%")).fetchall()
        else:
            rows = self.lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                     "name LIKE ?", (prefix + "%",)).fetchall()
        return sorted(r[0] for r in rows if r[0].rsplit("_", 1)[1].isdigit())

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url:
            return self.pg.execute(sql.replace("?", "%s"), params).fetchall()
        return self.lite.execute(sql, params).fetchall()

    def close(self) -> None:
        (self.pg if self.url else self.lite).close()


def load_duckdb(src: Source) -> Any:
    """An in-memory DuckDB holding the screen rows and every kind's (id, attributes)."""
    import duckdb
    import pyarrow as pa

    duck = duckdb.connect()
    rows = [r for t in src.tables("oslog_screen_") for r in src.rows(
        f"SELECT id, insert_instant, screen, duration_ms FROM {t}")]
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    duck.register("screen_arrow", pa.table({
        "id": pa.array(cols[0], pa.int64()), "insert_instant": pa.array(cols[1], pa.int64()),
        "screen": pa.array(cols[2], pa.string()), "duration_ms": pa.array(cols[3], pa.float64())}))
    duck.execute("CREATE TABLE screen AS SELECT * FROM screen_arrow")
    tables = src.tables("oslog_")
    attrs = [r for t in tables for r in src.rows(
        f"SELECT id, insert_instant, attributes FROM {t} WHERE attributes IS NOT NULL")]
    acols = list(zip(*attrs, strict=True)) if attrs else [[], [], []]
    duck.register("attrs_arrow", pa.table({
        "id": pa.array(acols[0], pa.int64()), "insert_instant": pa.array(acols[1], pa.int64()),
        "attributes": pa.array(acols[2], pa.string())}))
    duck.execute("CREATE TABLE attrs AS SELECT * FROM attrs_arrow")
    return duck


def duck_timed(duck: Any, rounds: int, sql: str, params: list[Any]) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(rounds + 1):
        t = time.perf_counter()
        result = duck.execute(sql, params).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times[1:]), result


def floor_rows(src: Source, start: int, end: int, rounds: int) -> float:
    """ms to read the (screen, duration_ms) of the week's screens out of the database in
    one connection, nothing else: the floor of any exact answer computed outside it."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for name in src.tables("oslog_screen_"):
            src.rows(f"SELECT screen, duration_ms FROM {name} WHERE insert_instant "
                     "BETWEEN ? AND ?", (start, end))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def build_attribute_index(data: Path, store_url: str = "") -> int:
    """What a server with --index-attributes user_id does at start, done now and timed."""
    from logcycle.ingest.tasks import Reindex
    from logcycle.settings import Settings
    from logcycle.store.factory import make_store

    store = make_store(Settings(data=data, index_attributes="user_id",
                                **({"store": store_url} if store_url else {})))
    now = int(time.time() * 1000)
    store.open(now, maintain=False)
    (done,) = store.apply([Reindex()], now)
    while getattr(store, "reindex_behind", False):  # the summaries, a bounded step at a time
        store.apply([Reindex()], now)
    store.close()
    return int(done)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--store", default="", metavar="postgresql://…",
                    help="seed and serve a PostgreSQL store instead (schema bench_query, "
                         "dropped first)")
    args = ap.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"logcycle-bench-query-{args.events}"
    url = ""
    if args.store:
        from demo import seed
        from pgcopy import drop_schema, schema_url

        drop_schema(args.store, "bench_query")
        url = schema_url(args.store, "bench_query")
        data = Path(tempfile.mkdtemp(prefix="logcycle-bench-query-pg-"))
        t = time.perf_counter()
        seed(data, events=args.events, span_ms=7 * DAY, now_ms=int(time.time() * 1000),
             store_url=url)
        print(f"seeded {args.events:,} events into PostgreSQL in {time.perf_counter() - t:.0f} s")
    else:
        fresh_store(data, args.events)
    t = time.perf_counter()
    built = build_attribute_index(data, url)
    print(f"indexed {built:,} attribute values (user_id) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    src = Source(url=args.store, schema="bench_query") if url else Source(data / "logcycle.db")
    duck = load_duckdb(src)
    print(f"copied the rows into DuckDB in {time.perf_counter() - t:.1f} s (not timed below)")
    server = Server(data, "--index-attributes", "user_id", *(["--store", url] if url else []))
    try:
        run(Client(server.port), duck, args.events, args.rounds, src,
            "PostgreSQL" if url else "SQLite")
    finally:
        server.stop()
        src.close()
        if url:
            drop_schema(args.store, "bench_query")


def run(c: Client, duck: Any, events: int, rounds: int, src: Source, engine: str) -> None:
    _, me = c.get("/api/v1/whoami")
    start, end = me["now"] - 7 * DAY, me["now"]
    rows: list[tuple[str, float, float, float, str]] = []

    # 1. p95 of duration_ms per screen over the week: from the duration summaries
    # (approximate, within 1%), and exactly from the events (exact=true) for reference.
    dmed, got = duck_timed(duck, rounds, (
        "SELECT screen, count(*), list_sort(list(duration_ms))"
        "[CAST(ceil(0.95 * count(*)) AS BIGINT)] FROM screen "
        "WHERE insert_instant BETWEEN ? AND ? GROUP BY screen"), [start, end])
    theirs = {s: (n, p) for s, n, p in got}
    exact_first, exact_med, exact_body = timed(
        c, rounds, "/api/v1/stats", kind="screen", by="screen", exact="true",
        metrics="count,p95(duration_ms)", start=start, end=end)
    exact = {r["screen"]: (r["count"], r["p95(duration_ms)"]) for r in exact_body["rows"]}
    first, med, body = timed(c, rounds, "/api/v1/stats", kind="screen", by="screen",
                             metrics="count,p95(duration_ms)", start=start, end=end)
    ours = {r["screen"]: (r["count"], r["p95(duration_ms)"]) for r in body["rows"]}
    worst = max((abs(p - theirs[s][1]) / theirs[s][1] for s, (_, p) in ours.items()
                 if s in theirs), default=float("nan"))
    counts_same = {s: n for s, (n, _) in ours.items()} == {s: n for s, (n, _) in theirs.items()}
    same = (f"counts {'same' if counts_same else 'DIFFERENT'}, p95 within {worst:.2%} of "
            f"DuckDB's exact ({body.get('approximate', {}).get('relative_error', 'exact')} "
            "claimed)")
    floor = floor_rows(src, start, end, rounds)
    rows.append(("p95(duration_ms) by screen, 1 week (stats, summaries)", first, med, dmed,
                 f"{len(ours)} screens, {sum(n for n, _ in ours.values()):,} events; {same}"))
    rows.append(("the same, exact=true (read every event)", exact_first, exact_med, dmed,
                 f"{'same answer' if exact == theirs else 'DIFFERENT'} as DuckDB; floor "
                 f"(read the rows from {engine}) {floor:.0f} ms"))

    # 1b. The Reports view's question (every metric of a row, errors from the requests'
    # error events): summaries beside exact=true, the same numbers but the percentiles.
    reports = "count,error_rate,avg(duration_ms),p95(duration_ms),max(duration_ms)"
    rfirst, rmed, rbody = timed(c, rounds, "/api/v1/stats", kind="screen", by="screen",
                                metrics=reports, start=start, end=end)
    _, xmed, xbody = timed(c, rounds, "/api/v1/stats", kind="screen", by="screen",
                           metrics=reports, start=start, end=end, exact="true")
    exact_rows = {r["screen"]: r for r in xbody["rows"]}
    agree = all(r[m] == exact_rows[r["screen"]][m] for r in rbody["rows"]
                for m in ("count", "error_rate", "max(duration_ms)"))
    rows.append(("Reports row: count, error_rate, avg, p95, max (summaries)", rfirst, rmed,
                 float("nan"), f"exact=true {xmed:.0f} ms; count, error_rate, max "
                 f"{'the same' if agree else 'DIFFERENT'}"))

    # 2. A selective field filter: one user of 50,000, first page.
    (user,), = duck.execute("SELECT json_extract_string(attributes, '$.user_id') FROM attrs "
                            "ORDER BY id LIMIT 1 OFFSET (SELECT count(*) // 2 FROM attrs)"
                            ).fetchall()
    first, med, body = timed(c, rounds, "/api/v1/events", query=f"attributes.user_id:{user}",
                             limit=100, start=start, end=end)
    ids = sorted(e["id"] for e in body["events"])
    dmed, got = duck_timed(duck, rounds, (
        "SELECT id FROM attrs WHERE json_extract_string(attributes, '$.user_id') = ? "
        "AND insert_instant BETWEEN ? AND ? ORDER BY id DESC LIMIT 100"), [user, start, end])
    same = "same answer" if ids == sorted(r[0] for r in got) else "DIFFERENT"
    rows.append(("attributes.user_id:<one of 50,000>, first page", first, med, dmed,
                 f"{len(ids)} events; {same}"))

    # 3. A histogram with a field filter.
    first, med, body = timed(c, rounds, "/api/v1/histogram",
                             kind="screen", query="screen:Checkout duration_ms:>1000",
                             start=start, end=end,
                             buckets=120)
    width, origin = body["bucket_ms"], body["buckets"][0]["start"]
    dmed, got = duck_timed(duck, rounds, (
        "SELECT (insert_instant - ?) // ?, count(*) FROM screen WHERE screen = 'Checkout' "
        "AND duration_ms > 1000 AND insert_instant BETWEEN ? AND ? GROUP BY 1"),
        [origin, width, start, end])
    counts = {i: b["count"] for i, b in enumerate(body["buckets"]) if b["count"]}
    same = "same answer" if counts == dict(got) else "DIFFERENT"
    rows.append(("histogram, screen:Checkout duration_ms:>1000, 1 week", first, med, dmed,
                 f"{body['total']:,} counted; {same}"))

    load = os.getloadavg()[0]
    print(f"\nQuestions by field: {events:,} events over 7 days (bench/demo.py), {engine}, "
          f"{rounds} rounds after a first call; load average {load:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"| {'question':<52} | first | median | DuckDB | target | note |")
    print(f"|{'-' * 54}|-------|--------|--------|--------|------|")
    for (name, first, med, dmed, note), target in zip(rows, TARGETS.values(), strict=True):
        flag = "" if med < target else " **over target**"
        print(f"| {name:<52} | {first:>3.0f} ms | {med:>4.0f} ms | {dmed:>4.1f} ms | "
              f"< {target:.0f} ms | {note}{flag} |")


if __name__ == "__main__":
    main()
