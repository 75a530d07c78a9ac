"""Message search while a steady stream of logs comes in, beside `grep -F`, in one run.

    .venv/bin/python bench/search_under_load.py [--preload 200000] [--rate 15000]
        [--seconds 60] [--connections 4] [--store postgresql://127.0.0.1:5432/test]
        [--share-of-burst 0.5] [--src OTHER_CHECKOUT/src]

1. Starts a fresh `logcycle serve` (SQLite in a temporary directory, or a throwaway
   PostgreSQL schema: the URL's `?schema=`, default `bench_load`) and preloads it as
   fast as it accepts (4 connections, batches of 500): that burst rate is "what the
   server accepts" in this run.
2. Holds a steady offered rate (``--rate``, paced per connection, bounded in count and
   time) for ``--seconds``; with ``--share-of-burst`` that rate is the given share of
   the burst rate just measured (0.5: half of what the server accepts, the goal).
   Every ``--needle-every`` seconds one `general` event with a unique word is logged
   and, 1 s later, searched for through the Event Log API
   (`GET /api/system/event-log/search?message=<word>`) and the native API
   (`GET /api/v1/events?kind=general&message=<word>`); each must find it exactly once.
   Once a second the index lag (rows and seconds behind the newest row) is sampled.
3. Right after the stream stops: 15 more searches (fresh needles, 0.2 s after each).
4. Prints offered and accepted rates, search median/p90 during and after, the lag, and
   beside them `grep -F -c` of the same needles over the same messages in a flat file,
   and plain `executemany` (SQLite) or `COPY` (PostgreSQL) of the preloaded rows.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server, event
from ingest import plain_rate

T0 = 1_795_400_000_000
BATCH = 500
POOL = 40  # distinct bodies each steady client cycles through
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def _post(conn: http.client.HTTPConnection, body: bytes) -> int:
    """POST a batch, retrying on 503 after Retry-After / 10; the events accepted."""
    for _ in range(1000):
        conn.request("POST", "/api/v1/events", body=body, headers=HEADERS)
        r = conn.getresponse()
        data = r.read()
        if r.status == 200:
            return len(orjson.loads(data)["ids"])
        if r.status != 503:
            raise RuntimeError(f"{r.status} {data[:200]!r}")
        time.sleep(float(r.getheader("Retry-After") or 1) / 10)
    raise RuntimeError("still overloaded after 1000 tries")


def burst_client(port: int, bodies: list[bytes], ready: Any, go: Any, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    ready.release()
    go.wait()
    out.put(sum(_post(conn, b) for b in bodies))


def steady_client(port: int, bodies: list[bytes], rate: float, seconds: float,
                  ready: Any, go: Any, out: Any) -> None:
    """Sends batch k at start + k * BATCH / rate (at once when behind), for ``seconds``:
    an offered rate that does not wait for the server (a stream does not)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    ready.release()
    go.wait()
    start = time.perf_counter()
    offered = accepted = 0
    k = 0
    while True:
        due = start + k * BATCH / rate
        if due - start >= seconds:
            break
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        accepted += _post(conn, bodies[k % len(bodies)])
        offered += BATCH
        k += 1
    out.put((offered, accepted, k, time.perf_counter() - start))


def bodies_of(rng: random.Random, n: int) -> tuple[list[bytes], list[list[str]]]:
    batches = [[event(rng, T0 + i) for i in range(BATCH)] for _ in range(n)]
    return [orjson.dumps(b) for b in batches], [[e["message"] for e in b] for b in batches]


class Api:
    """One keep-alive connection for the needles, searches and status."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def _fresh(self) -> None:
        """A new connection: the server closes keep-alive connections idle for 5 s."""
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path: str) -> Any:
        status, got = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {got!r}")
        return got

    def request(self, path: str) -> tuple[int, Any]:
        try:
            self.conn.request("GET", path, headers=HEADERS)
            r = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self._fresh()
            self.conn.request("GET", path, headers=HEADERS)
            r = self.conn.getresponse()
        return r.status, orjson.loads(r.read())

    def needle(self, word: str) -> None:
        body = orjson.dumps([{"kind": "general", "instant": T0, "message_type": "Error",
                              "message": f"payment failed with code {word} for order"}])
        try:
            _post(self.conn, body)
        except (ConnectionError, http.client.HTTPException):
            self._fresh()
            _post(self.conn, body)

    failed = 0  # searches answered 503 (the store's 10 s query timeout)

    def search(self, word: str) -> tuple[float, float]:
        """(Event Log API ms, native API ms); each must find the needle once."""
        q = urllib.parse.quote(word)
        t = time.perf_counter()
        s1, got = self.request(f"/api/system/event-log/search?message={q}")
        t1 = time.perf_counter()
        s2, native = self.request(f"/api/v1/events?kind=general&message={q}&limit=100")
        t2 = time.perf_counter()
        for status, body in ((s1, got), (s2, native)):
            if status == 503:
                self.failed += 1
            elif status != 200:
                raise RuntimeError(f"needle {word}: {status} {body!r}")
        if (s1 == 200 and got["total"] != 1) or (s2 == 200 and len(native["events"]) != 1):
            raise RuntimeError(f"needle {word}: not found exactly once")
        return (t1 - t) * 1000, (t2 - t1) * 1000


class LagSampler(threading.Thread):
    """Once a second: how far the message index trails the newest row, from
    `GET /api/v1/status` (`search_index`), or for code without it from the store."""

    def __init__(self, port: int, data: Path, pg: str) -> None:
        super().__init__(daemon=True)
        self.api, self.data, self.pg = Api(port), data, pg
        self.samples: list[tuple[int, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(self.lag())

    def lag(self) -> tuple[int, float]:
        status = self.api.get("/api/v1/status")
        si = status.get("search_index")
        if si is not None:
            return int(si["lag_rows"]), float(si["lag_seconds"])
        return self._lag_from_store(int(status["now"]))

    def _lag_from_store(self, now: int) -> tuple[int, float]:
        """The layout before search_index was in the status: lc_index_state's
        ``search_general`` watermark of the newest week's cycle."""
        sql = [("SELECT cycle FROM lc_cycles WHERE week IS NOT NULL ORDER BY week DESC "
                "LIMIT 1", ()), ("SELECT watermark FROM lc_index_state WHERE name = "
                                 "'search_general' AND cycle = {c}", ()),
               ("SELECT count(*), min(insert_instant) FROM oslog_general_{c} WHERE id > {w}",
                ())]
        if self.pg:
            import psycopg
            from pgcopy import split_schema
            base, name = split_schema(self.pg, "bench_load")
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{name}"')
                return _lag_rows(lambda s: conn.execute(s).fetchone(), sql, now)
        conn = sqlite3.connect(f"file:{self.data / 'logcycle.db'}?mode=ro", uri=True)
        try:
            return _lag_rows(lambda s: conn.execute(s).fetchone(), sql, now)
        finally:
            conn.close()


def _lag_rows(one: Any, sql: list[tuple[str, tuple[()]]], now: int) -> tuple[int, float]:
    c = int((one(sql[0][0]) or (0,))[0])
    w = one(sql[1][0].format(c=c))
    n, oldest = one(sql[2][0].format(c=c, w=int(w[0]) if w else 0))
    return int(n), (now - int(oldest)) / 1000 if oldest else 0.0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def grep_ms(words: list[str], flat: Path) -> float:
    times = []
    for w in words:
        t = time.perf_counter()
        out = subprocess.run(["grep", "-F", "-c", "--", w, str(flat)], capture_output=True,
                             text=True, check=False).stdout.strip()
        times.append((time.perf_counter() - t) * 1000)
        if out != "1":
            raise RuntimeError(f"grep found {out} lines with {w}")
    return statistics.median(times)


def run(args: argparse.Namespace, tmp: Path) -> None:
    rng = random.Random(11)
    data = tmp / "data"
    pg = ""
    extra: list[str] = []
    if args.store:
        from pgcopy import drop_schema, schema_url, split_schema
        base, name = split_schema(args.store, "bench_load")
        drop_schema(base, name)
        pg = schema_url(base, name)
        extra = ["--store", pg]
    pre_bodies, pre_msgs = bodies_of(rng, args.preload // BATCH)
    pool = [bodies_of(random.Random(100 + i), POOL) for i in range(args.connections)]
    server = Server(data, *extra, "--search-index-lag", args.search_index_lag, src=args.src)
    ctx = mp.get_context("fork")
    try:
        ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=burst_client, args=(server.port, pre_bodies[i::4], ready,
                                                        go, out)) for i in range(4)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        t = time.perf_counter()
        go.set()
        loaded = sum(out.get() for _ in procs)
        accepts = loaded / (time.perf_counter() - t)
        for p in procs:
            p.join()
        print(f"preload: {loaded:,} events at {accepts:,.0f}/s (what the server accepts "
              "here, 4 connections, batches of 500)", flush=True)
        api = Api(server.port)
        sampler = LagSampler(server.port, data, pg)
        t = time.perf_counter()
        while sampler.lag()[0] > 0 and time.perf_counter() - t < 120:
            time.sleep(0.5)
        print(f"index caught up with the preload {time.perf_counter() - t:.1f} s later",
              flush=True)

        if args.share_of_burst:
            args.rate = min(200_000.0, accepts * args.share_of_burst)
        ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        per = args.rate / args.connections
        procs = [ctx.Process(target=steady_client, args=(server.port, pool[i][0], per,
                                                         args.seconds, ready, go, out))
                 for i in range(args.connections)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        go.set()
        start = time.perf_counter()
        sampler.start()
        needles: list[str] = []
        during: list[tuple[float, float]] = []
        n = 0
        while time.perf_counter() - start < args.seconds - 1.5:
            word = f"ndl{rng.getrandbits(40):010x}"
            api.needle(word)
            needles.append(word)
            time.sleep(1.0)
            during.append(api.search(word))
            n += 1
            time.sleep(max(0.0, start + n * args.needle_every - time.perf_counter()))
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        sampler.stop.set()
        elapsed = max(r[3] for r in results)
        offered, accepted = sum(r[0] for r in results), sum(r[1] for r in results)
        after_lag = sampler.lag()
        after: list[tuple[float, float]] = []
        for _ in range(15):
            word = f"ndl{rng.getrandbits(40):010x}"
            api.needle(word)
            needles.append(word)
            time.sleep(0.2)
            after.append(api.search(word))
        # The flat file holds the same messages: preload, the stream, the needles.
        flat = tmp / "messages.txt"
        with flat.open("w") as f:
            for msgs in pre_msgs:
                f.write("\n".join(msgs) + "\n")
            for (_, msgs), (_, _, k, _) in zip(pool, results, strict=True):
                for j in range(k):
                    f.write("\n".join(msgs[j % POOL]) + "\n")
            for w in needles:
                f.write(f"payment failed with code {w} for order\n")
        lines = loaded + accepted + len(needles)
        grep = grep_ms(needles[:: max(1, len(needles) // 15)], flat)
    finally:
        server.stop()
    if args.store:
        from pgcopy import copy_rate, drop_schema, rows_of, split_schema
        base, name = split_schema(args.store, "bench_load")
        drop_schema(base, name)
        peer_name = "plain COPY of the preloaded rows, no secondary index"
        peer = copy_rate(base, rows_of([orjson.loads(b) for b in pre_bodies], T0),
                         indexes="none")
    else:
        peer_name = "plain executemany of the preloaded rows, no secondary index"
        peer = plain_rate(tmp / "plain.db", [orjson.loads(b) for b in pre_bodies])
    report(args, accepts, peer_name, peer, offered, accepted, elapsed, during, after,
           sampler.samples, after_lag, grep, lines)
    print(f"searches answered 503 (10 s query timeout): {api.failed}")


def report(args: argparse.Namespace, accepts: float, peer_name: str, peer: float,
           offered: int, accepted: int, elapsed: float, during: list[tuple[float, float]],
           after: list[tuple[float, float]], lags: list[tuple[int, float]],
           after_lag: tuple[int, float], grep: float, lines: int) -> None:
    store = "PostgreSQL" if args.store else "SQLite"
    print(f"\nSearch under load ({store}, --search-index-lag {args.search_index_lag}): "
          f"preload {args.preload:,}, then "
          f"{args.seconds:.0f} s at {args.rate:,.0f} events/s offered over "
          f"{args.connections} connections")
    print(f"| {'what':<66} | {'figure':>26} |\n|{'-' * 68}|{'-' * 28}|")
    rows = [
        ("ingest burst (preload), events/s", f"{accepts:,.0f}"),
        (peer_name, f"{peer:,.0f}"),
        ("steady: offered / accepted events/s",
         f"{offered / elapsed:,.0f} / {accepted / elapsed:,.0f}"),
        ("steady rate / burst rate", f"{accepted / elapsed / accepts:.0%}"),
    ]
    for label, got in (("during the stream", during), ("right after it", after)):
        for i, api in enumerate(("Event Log API", "GET /api/v1/events")):
            ms = [g[i] for g in got]
            rows.append((f"search {label}, {api}: median / p90 ms ({len(ms)})",
                         f"{statistics.median(ms):.1f} / {pct(ms, 0.9):.1f}"))
    rows.append((f"grep -F -c of a needle over the same {lines:,} messages, median ms",
                 f"{grep:.1f}"))
    if lags:
        rows.append(("index lag during the stream, rows: median / max",
                     f"{statistics.median(r for r, _ in lags):,.0f} / "
                     f"{max(r for r, _ in lags):,}"))
        rows.append(("index lag during the stream, seconds: median / max",
                     f"{statistics.median(s for _, s in lags):.2f} / "
                     f"{max(s for _, s in lags):.2f}"))
    rows.append(("index lag when the stream stopped, rows / seconds",
                 f"{after_lag[0]:,} / {after_lag[1]:.2f}"))
    for label, figure in rows:
        print(f"| {label:<66} | {figure:>26} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preload", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=15_000)
    ap.add_argument("--share-of-burst", type=float, default=0.0, metavar="FRACTION",
                    help="offer this share of the measured burst rate instead of --rate")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--needle-every", type=float, default=2.0)
    ap.add_argument("--store", default="", metavar="postgresql://…",
                    help="run on PostgreSQL (throwaway schema: the URL's ?schema=, "
                    "default bench_load)")
    ap.add_argument("--search-index-lag", default="scan", choices=("scan", "slow-ingest"),
                    help="the server's setting (docs/settings.md)")
    ap.add_argument("--src", default="", metavar="SRC",
                    help="serve from this source tree (another checkout's src: old code "
                    "against new, one run after the other)")
    args = ap.parse_args()
    if args.seconds > 600 or args.rate > 200_000:
        ap.error("bounded: at most 600 s and 200,000 events/s")
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
