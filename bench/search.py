"""Wildcard search of event logs beside `grep -F` over the same messages, in the same run.

    .venv/bin/python bench/search.py [--events 1000000] [--repeat 9]

Puts N event logs (`general` events with an event log type, ~100-byte messages) into a
fresh SQLite store through the store's own write path, lets the writer-side indexer build
the FTS5 trigram index, then times searches through the real code path: the Event Log
API (`GET /api/system/event-log/search`, in process through the ASGI app, page of 25 and
the exact `total`). Beside each, in the same run and alternated with it: on SQLite the same
first search with every block part counted by its text (the terms of
store/sqlite_counts.py switched off: the code before them), and `grep -F -c` of the same
literal over the same messages in a flat file (one per line). On PostgreSQL the same
first search with every row counted by its `ILIKE` (the terms of store/postgres_counts.py
switched off: the code before them). Medians of `--repeat` runs, wall time and CPU time
(this process's, which serves the request in process; grep's from its rusage).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORDS
from pgcopy import drop_schema, schema_bytes, schema_url, split_schema

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, IndexSearch
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store import postgres_search, sqlite_counts
from logcycle.store.factory import make_store

T0 = 1_795_400_000_000
KEY = "bench-key"
TYPES = ("Information", "Debug", "Error")
USERS = 50_000
URL = "/api/system/event-log/search"


def message(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
    return f"{words} user u{rng.randrange(USERS):05d} order {rng.getrandbits(32):08x} #{i}"


def load(url: str, flat: Path, n: int, seed: int) -> tuple[list[str], float, float]:
    """Write n event logs and the flat file; returns (messages, write s, index s)."""
    rng = random.Random(seed)
    store = make_store(Settings(store=url))
    store.open(T0)
    decoder = BatchDecoder(max_future_ms=10**9, max_batch=10_000)
    messages: list[str] = []
    started = time.perf_counter()
    for b in range(0, n, 10_000):
        chunk = [message(rng, b + i) for i in range(min(10_000, n - b))]
        messages.extend(chunk)
        body = orjson.dumps([{"kind": "general", "instant": T0, "message": m,
                              "message_type": TYPES[i % 3]} for i, m in enumerate(chunk)])
        events = decoder.decode_json(body, now_ms=T0).events
        store.apply([EventBatch(events, None, "b", scope=ALL)], T0)
    written = time.perf_counter() - started
    started = time.perf_counter()
    while store.apply([IndexSearch(50_000)], T0)[0]:
        pass
    indexed = time.perf_counter() - started
    store.close()
    flat.write_text("\n".join(messages) + "\n")
    return messages, written, indexed


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], object], cpu: Callable[[], float]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one call."""
    wall, used = time.perf_counter(), cpu()
    fn()
    return (time.perf_counter() - wall) * 1000, (cpu() - used) * 1000


def grep(term: str, flat: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["grep", "-F", "-c", "--", term, str(flat)],
                          capture_output=True, text=True, check=False)


def uncached(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with no counts kept (SQLite's block counts, store/sqlite_counts.py, and
    PostgreSQL's totals, store/postgres_search.py): every block or row read, as a first
    search of a pattern reads them."""
    def run() -> object:
        entries, sqlite_counts.CACHE_ENTRIES = sqlite_counts.CACHE_ENTRIES, 0
        totals, postgres_search.KEPT_TOTALS = postgres_search.KEPT_TOTALS, 0
        try:
            return fn()
        finally:
            sqlite_counts.CACHE_ENTRIES = entries
            postgres_search.KEPT_TOTALS = totals
    return run


def without_terms(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` as a first search before the blocks' terms: no counts kept; on SQLite every
    block part counted by the regular expression over its text, on PostgreSQL every row
    by its ``ILIKE``."""
    def run() -> object:
        needle, sqlite_counts.needle = sqlite_counts.needle, lambda q: None
        terms, postgres_search.TERMS = postgres_search.TERMS, False
        try:
            return uncached(fn)()
        finally:
            sqlite_counts.needle = needle
            postgres_search.TERMS = terms
    return run


def before_code(fn: Callable[[], object]) \
        -> contextlib.AbstractContextManager[Callable[[], object]]:
    """The code before, as a call of ``fn``: a first search without the blocks' terms."""
    return contextlib.nullcontext(without_terms(fn))


def medians(runs: list[tuple[float, float]]) -> str:
    return (f"{statistics.median(w for w, _ in runs):.1f} / "
            f"{statistics.median(c for _, c in runs):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--store", default="", metavar="postgresql://…",
                    help="search a PostgreSQL store instead (schema: the URL's ?schema=, "
                         "default bench_search, dropped afterwards): its pg_trgm index, also "
                         "built behind the writer")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data, flat = Path(tmp) / "data", Path(tmp) / "messages.txt"
        data.mkdir()
        base, name = split_schema(args.store, "bench_search") if args.store else ("", "")
        url = schema_url(base, name) if args.store else f"sqlite:///{data / 'logcycle.db'}"
        if args.store:
            drop_schema(base, name)
        messages, written, indexed = load(url, flat, args.events, 7)
        print(f"{args.events:,} event logs: written in {written:.1f} s "
              f"({args.events / written:,.0f}/s, no index on the write path); indexed behind "
              f"the writer in {indexed:.1f} s ({args.events / indexed:,.0f} rows/s)")
        sample = messages[len(messages) // 2].split()
        user, order = sample[-4], sample[-2]
        queries = [
            ("selective: an order id", order, order),
            ("selective: a user id", user, user),
            ("selective, wildcards", f"*{user} order*", f"{user} order"),
            ("broad: a common word", "timeout", "timeout"),
            ("broad, wildcards", "payment*timeout*", "payment"),
            ("no trigram (2 letters), scan", "zq", "zq"),
        ]
        svc = Service(Settings(data=data, store=url), clock=ManualClock(T0), bootstrap_key=KEY)
        print(f"load average before the searches: {os.getloadavg()[0]:.1f}")
        with TestClient(create_app(svc), headers={"Authorization": KEY}) as client:
            before_name = "first search, rows' ILIKE (before)" if args.store else \
                "first search, blocks' text only (before)"
            print("\n| search | `message` | matches | logcycle (API, page + total), wall / CPU "
                  f"| same, counts not kept (a first search) | {before_name} | `grep -F -c`, "
                  "wall / CPU | speed-up (wall) |\n|---|---|---|---|---|---|---|---|")
            for label, pattern, literal in queries:
                def ask(p: str = pattern) -> int:
                    return int(client.get(URL, params={"message": p}).json()["total"])
                total = ask()
                with before_code(ask) as old:
                    old_total = old()
                if old_total != total or uncached(ask)() != total:
                    raise SystemExit(f"{pattern}: the totals differ")
                ours, cold, before, theirs = [], [], [], []
                for _ in range(args.repeat):  # alternated: the same noise for each
                    ours.append(timed(ask, time.process_time))
                    cold.append(timed(uncached(ask), time.process_time))
                    with before_code(ask) as old:
                        before.append(timed(old, time.process_time))
                    theirs.append(timed(functools.partial(grep, literal, flat), children_cpu))
                wall = statistics.median(w for w, _ in ours)
                grep_wall = statistics.median(w for w, _ in theirs)
                print(f"| {label} | `{pattern}` | {total:,} | {medians(ours)} | {medians(cold)} | "
                      f"{medians(before) if before else '—'} | {medians(theirs)} | "
                      f"{grep_wall / wall:.1f}x |")
        print(f"\nload average after the searches: {os.getloadavg()[0]:.1f}")
        svc.close()
        size = sum(f.stat().st_size for f in data.glob("logcycle.db*"))
        index = ""
        if args.store:
            size = schema_bytes(base, name)
            side = schema_bytes(base, name, "lc_search_%")
            index = f" (message index {side / 2**20:.1f} MB)"
            drop_schema(base, name)
        print(f"\nstore on disk: {size / 2**20:.0f} MB{index}; flat file: "
              f"{flat.stat().st_size / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
