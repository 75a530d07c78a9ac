"""Ingest over HTTP beside the physical limit, in the same run.

    .venv/bin/python bench/ingest.py [--events 1000000] [--clients 4] [--batch 1000]

Sends N synthetic events (~400 bytes of JSON each) in batches over HTTP from concurrent
client processes to a fresh `logcycle serve`, then prints events/s beside plain
`executemany` of the same rows (batches of the same size, same columns, no secondary
index) into a fresh SQLite file, the server's CPU per event, how far the message search
index trailed (``GET /api/v1/status``, sampled each second) and the server's peak memory.
``--baseline other/src`` alternates the same runs with the code of another checkout.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, CpuMeter, Server, event

from logcycle.kinds import KINDS

T0 = 1_795_400_000_000


TRACE = """Traceback (most recent call last):
  File "/srv/app/shop/views.py", line {a}, in checkout
    order = place(cart)
  File "/srv/app/shop/orders.py", line {b}, in place
    raise OrderClosed(order_id)
shop.errors.OrderClosed: order {n} is closed
"""


def error_event(rng: random.Random, instant: int) -> dict[str, Any]:
    """An error with a Python stack trace: the fingerprint's costly case."""
    n = rng.randint(1, 10**6)
    return {"kind": "error", "instant": instant, "module_name": "shop",
            "message": f"order {n} is closed (user {rng.randint(1, 9999)})",
            "detail": TRACE.format(a=rng.randint(1, 99), b=rng.randint(1, 99), n=n),
            "request_key": str(uuid.UUID(int=rng.getrandbits(128)))}


SCREENS = ["Checkout", "Cart", "Login", "ProductList", "ProductDetail", "Orders", "Profile"]


def screen_event(rng: random.Random, instant: int) -> dict[str, Any]:
    """A top-level screen with a duration and a user in its attributes: what the duration
    summaries (store/summary.py) and ``--index-attributes user_id`` index."""
    return {"kind": "screen", "instant": instant, "duration_ms": rng.randint(40, 1500),
            "screen": rng.choice(SCREENS), "request_key": str(uuid.UUID(int=rng.getrandbits(128))),
            "module_name": rng.choice(["shop", "billing", "auth"]),
            "attributes": {"user_id": f"user-{rng.randint(1, 50_000)}"}}


def make_batches(n_events: int, batch: int, seed: int, errors: float = 0.0,
                 screens: float = 0.0) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for b in range(0, n_events, batch):
        batch_events = []
        for i in range(min(batch, n_events - b)):
            roll = rng.random()
            make = (error_event if roll < errors else screen_event if roll < errors + screens
                    else event)
            batch_events.append(make(rng, T0 + b + i))
        out.append(batch_events)
    return out


RECONNECT_EVERY = 10


def client(port: int, bodies: list[bytes], ready: Any, go: Any, result: Any) -> None:
    """Posts its share of the batches over keep-alive; a new connection every
    RECONNECT_EVERY requests, as a load balancer's pool would, so that several server
    processes on one port share the clients (each accepts the connections it can)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    ready.release()
    go.wait()
    sent = 0
    for n, body in enumerate(bodies):
        if n and n % RECONNECT_EVERY == 0:
            conn.close()
        while True:
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status == 200:
                sent += len(orjson.loads(data)["ids"])
                break
            if r.status == 503:
                time.sleep(float(r.getheader("Retry-After") or 1) / 10)
                continue
            raise RuntimeError(f"{r.status} {data[:200]!r}")
    result.put(sent)


class IndexLag:
    """Samples ``search_index.lag_seconds`` of ``GET /api/v1/status`` each second on a
    thread, from start() to stop(); ``final`` is one more sample after stop()."""

    def __init__(self, port: int) -> None:
        self.port, self.samples, self.final = port, [0.0], 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", "/api/v1/status", headers={"Authorization": f"Bearer {KEY}"})
            return float(orjson.loads(conn.getresponse().read())["search_index"]["lag_seconds"])
        finally:
            conn.close()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(self._get())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.final = self._get()

    def summary(self) -> str:
        s = sorted(self.samples)
        return (f"search index lag: median {s[len(s) // 2]:.1f} s, max {s[-1]:.1f} s, "
                f"{self.final:.1f} s after the last batch")


def http_rate(data_dir: Path, batches: list[list[dict[str, Any]]],
              clients: int, *server_args: str, src: str = "",
              after: Callable[[], None] | None = None) -> tuple[float, float, float]:
    """Events/s over HTTP, the server's peak memory (MB) and its CPU µs per event; prints
    where the CPU went and how far the search index trailed. ``after`` runs once the last
    batch is acknowledged, while the server still runs; ``src``: see Server."""
    server = Server(data_dir, *server_args, src=src)
    store = next((a for a in server_args if a.startswith("postgres")), "")
    meter = CpuMeter(server.proc.pid, store.split("?")[0])
    lag = IndexLag(server.port) if not store else None
    try:
        bodies = [orjson.dumps(b) for b in batches]
        ctx = mp.get_context("fork")
        ready, go, result = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=client, args=(server.port, bodies[i::clients], ready, go,
                                                  result)) for i in range(clients)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        start = time.perf_counter()
        meter.start()
        if lag is not None:
            lag.start()
        go.set()
        total = sum(result.get() for _ in procs)
        elapsed = time.perf_counter() - start
        meter.stop()
        cpu_us = meter.seconds.get("server", 0.0) / max(total, 1) * 1e6
        print(f"  {meter.summary()}; server CPU {cpu_us:.1f} µs/event", flush=True)
        if lag is not None:
            lag.stop()
            print(f"  {lag.summary()}", flush=True)
        for p in procs:
            p.join()
        if after is not None:
            after()
        return total / elapsed, server.peak_rss_mb(), cpu_us
    finally:
        server.stop()


def plain_rate(path: Path, batches: list[list[dict[str, Any]]]) -> float:
    """executemany of the same rows into a table with the same columns and no index."""
    kind = KINDS["general"]
    cols = kind.columns
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute(f"CREATE TABLE plain (id INTEGER PRIMARY KEY, {', '.join(cols[1:])})")
    sql = f"INSERT INTO plain VALUES ({', '.join('?' * len(cols))})"
    names = [f.name for f in kind.data_fields]
    rows_batches = []
    next_id = 1
    for b in batches:
        rows = []
        for e in b:
            rows.append((next_id, T0, *(e.get(n) for n in names), None, None))
            next_id += 1
        rows_batches.append(rows)
    start = time.perf_counter()
    for rows in rows_batches:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return next_id / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2,
                    help="alternate the two measurements this many times, keep the best of "
                         "each (the machine is shared: noise only ever slows a run down)")
    ap.add_argument("--errors", type=float, default=0.0, metavar="FRACTION",
                    help="this share of the events are errors with a stack trace (their "
                         "fingerprint is computed at ingest)")
    ap.add_argument("--screens", type=float, default=0.0, metavar="FRACTION",
                    help="this share of the events are screens with a duration and "
                         "attributes.user_id (summarized, and indexed with "
                         "--server-args=--index-attributes=user_id)")
    ap.add_argument("--baseline", default="", metavar="SRC",
                    help="also run the server from this source tree (another checkout's "
                         "src/), alternated with the current code in the same run")
    ap.add_argument("--server-args", default="", metavar="ARGS",
                    help="more options for logcycle serve, space-separated")
    ap.add_argument("--store", default="", metavar="postgresql://…",
                    help="run against PostgreSQL (throwaway schemas bench_*), beside plain "
                         "COPY of the same rows")
    ap.add_argument("--workers", default="1,2",
                    help="with --store: server processes to measure, comma-separated")
    args = ap.parse_args()
    batches = make_batches(args.events, args.batch, seed=1, errors=args.errors,
                           screens=args.screens)
    args.extra = args.server_args.split()
    if args.store:
        postgres_main(args, batches)
        return
    variants = {"logcycle over HTTP (validate, group commit, indexes)": ""}
    if args.baseline:
        variants["logcycle over HTTP, baseline " + args.baseline[-20:]] = args.baseline
    limit = 0.0
    best: dict[str, tuple[float, float]] = {}  # best events/s, least CPU µs/event
    rss: dict[str, float] = {}  # peak memory (MB), the most of any run
    for i in range(args.repeat):
        names = list(variants) if i % 2 == 0 else list(reversed(variants))
        with tempfile.TemporaryDirectory() as tmp:
            limit = max(limit, plain_rate(Path(tmp) / "plain.db", batches))
            got = []
            for n, name in enumerate(names):
                rate, peak, cpu_us = http_rate(Path(tmp) / f"data{n}", batches, args.clients,
                                               *args.extra, src=variants[name])
                old_rate, old_cpu = best.get(name, (0.0, float("inf")))
                best[name] = (max(old_rate, rate), min(old_cpu, cpu_us))
                rss[name] = max(rss.get(name, 0.0), peak)
                label = "baseline" if variants[name] else "logcycle"
                got.append(f"{label} {rate:,.0f}/s ({cpu_us:.1f} µs/event)")
        print(f"run {i + 1}: plain {limit:,.0f}/s, " + ", ".join(got), flush=True)
    print(f"\nIngest: {args.events:,} events ({args.screens:.0%} screens), batches of "
          f"{args.batch}, {args.clients} clients, best of {args.repeat}, serve "
          f"{args.server_args or '(defaults)'}; load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"| {'path':<58} | {'events/s':>10} | {'server CPU µs/event':>19} |")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 21}|")
    print(f"| {'plain executemany, same rows, no secondary index':<58} | {limit:>10,.0f} | "
          f"{'':>19} |")
    for name, (rate, cpu_us) in best.items():
        print(f"| {name[:58]:<58} | {rate:>10,.0f} | {cpu_us:>19.1f} |")
    for name, (rate, _) in best.items():
        print(f"{name}: {rate / limit:.0%} of the limit")
    print("server peak memory: " + ", ".join(f"{rss[n]:.0f} MB" for n in best))


def postgres_main(args: Any, batches: list[list[dict[str, Any]]]) -> None:
    """The PostgreSQL mode: COPY limits and HTTP with 1..N workers, alternated."""
    from pgcopy import LAYOUTS, copy_rate, drop_schema, index_lag, rows_of, schema_url

    rows = rows_of(batches, T0)
    workers = [int(w) for w in args.workers.split(",")]
    best: dict[str, float] = {}
    for i in range(args.repeat):
        got = {f"plain COPY, {what}": copy_rate(args.store, rows, indexes=layout)
               for layout, what in LAYOUTS.items()}
        variants = {"logcycle": ""}
        if args.baseline:  # the other checkout's code, alternated with this one
            variants["baseline " + args.baseline[-20:]] = args.baseline
        for n in workers:
            for label, src in variants.items():
                drop_schema(args.store, "bench_http")
                with tempfile.TemporaryDirectory() as tmp:
                    rate, _, _ = http_rate(Path(tmp) / "data", batches, args.clients,
                                           "--store", schema_url(args.store, "bench_http"),
                                           "--workers", str(n), *args.extra, src=src,
                                           after=lambda: print("  " + index_lag(
                                               args.store, "bench_http")))
                got[f"{label} over HTTP, {n} server process{'es' if n > 1 else ''}"] = rate
        drop_schema(args.store, "bench_http")
        for k, v in got.items():
            best[k] = max(best.get(k, 0.0), v)
        print(f"run {i + 1}: " + ", ".join(f"{v:,.0f}/s" for v in got.values()), flush=True)
    print(f"\nIngest into PostgreSQL: {args.events:,} events, batches of {args.batch}, "
          f"{args.clients} clients, best of {args.repeat}")
    print(f"| {'path':<72} | {'events/s':>10} |")
    print(f"|{'-' * 74}|{'-' * 12}|")
    for k, v in best.items():
        print(f"| {k:<72} | {v:>10,.0f} |")
    limit = next(iter(best.values()))
    for k, v in best.items():
        if " over HTTP" in k:
            print(f"{k}: {v / limit:.0%} of plain COPY")


if __name__ == "__main__":
    main()
