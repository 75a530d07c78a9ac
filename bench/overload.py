"""Overload: a writer slowed to a fraction of the offered load, for a minute.

    .venv/bin/python bench/overload.py [--seconds 60] [--write-rate 5000] [--flooders 2]
                                       [--connections 40] [--loggers 2] [--logger-rate 500]
                                       [--json FILE]
    .venv/bin/python bench/overload.py --attacks [--before OLD_SRC]   # bench/attacks.py

The server runs with the test-only knob ``LOGCYCLE_FAULT_WRITE_RATE`` (its writer commits
at most that many events a second, a slow disk; see docs/reliability.md). For
``--seconds``, flooder processes send batches of 1,000 events on many concurrent
connections, as fast as they can, ignoring ``Retry-After``: many times what the writer
can take. Meanwhile ``--loggers`` instances of the real client
(``logcycle.client.Logger``) log a steady ``--logger-rate`` events a second each, and a
probe reads ``/health`` and a page of events ten times a second. Then the flood stops
(the load drops below the writer's rate), the loggers go on a few seconds, flush and
close. Checked:

- every answer that is not a 200 is a 503 with a ``Retry-After``;
- every accepted flood batch is stored, and nothing of a rejected one (stored events =
  1,000 x accepted batches);
- the server's memory (VmRSS, sampled every 0.1 s) stays under ``--rss-limit-mb``;
- accepted requests and reads keep answering (their latencies are printed);
- the loggers delivered everything once the load dropped: every logged event stored
  once, none dropped.

Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, free_port, message, wait_ready

from logcycle.client import Logger

HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
FLOOD_BATCH = 1000


@dataclass
class FloodResult:
    accepted: int = 0
    rejected: int = 0  # 503 with a Retry-After
    bad: list[str] = field(default_factory=list)  # anything else
    accepted_latency: list[float] = field(default_factory=list)
    rejected_latency: list[float] = field(default_factory=list)


def flood_connection(port: int, until: float, body: bytes, res: FloodResult) -> None:
    """One connection sending ``body`` until ``until`` (monotonic), ignoring Retry-After."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.monotonic() < until:
        t = time.monotonic()
        try:
            conn.request("POST", "/api/v1/events", body=body, headers=HEADERS)
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as exc:
            res.bad.append(f"no answer: {exc!r}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        took = time.monotonic() - t
        retry_after = r.getheader("Retry-After") or ""
        if r.status == 200 and len(orjson.loads(data)["ids"]) == FLOOD_BATCH:
            res.accepted += 1
            res.accepted_latency.append(took)
        elif r.status == 503 and retry_after.isdigit() and int(retry_after) > 0:
            res.rejected += 1
            res.rejected_latency.append(took)
        else:
            res.bad.append(f"{r.status} Retry-After={retry_after!r} {data[:120]!r}")
    conn.close()


def flooder(port: int, until: float, seed: int, connections: int, out: Any) -> None:
    """``connections`` concurrent connections, each sending batches of FLOOD_BATCH events."""
    rng = random.Random(seed)
    body = orjson.dumps([{"kind": "general", "instant": 1_700_000_000_000,
                          "message": f"flood {message(rng)}"} for _ in range(FLOOD_BATCH)])
    res = FloodResult()
    threads = [threading.Thread(target=flood_connection, args=(port, until, body, res))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(asdict(res))


class Sampler(threading.Thread):
    """Samples the server's VmRSS and the latency of reads, every ``every`` seconds."""

    def __init__(self, pid: int, port: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.port, self.every = pid, port, every
        self.stop = threading.Event()
        self.rss_mb: list[float] = []
        self.health: list[float] = []
        self.page: list[float] = []
        self.failures: list[str] = []

    def rss(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def timed_get(self, conn: http.client.HTTPConnection, path: str, into: list[float]) -> None:
        t = time.monotonic()
        conn.request("GET", path, headers=HEADERS)
        r = conn.getresponse()
        r.read()
        into.append(time.monotonic() - t)
        if r.status != 200:
            self.failures.append(f"GET {path}: {r.status}")

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop.wait(self.every):
            self.rss_mb.append(self.rss())
            try:
                self.timed_get(conn, "/health", self.health)
                self.timed_get(conn, "/api/v1/events?limit=10", self.page)
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.close()


def steady(logger: Logger, name: str, rate: int, until: float, logged: list[int]) -> None:
    """Log ``rate`` events a second through ``logger`` until ``until``."""
    tick = 0.01
    per_tick = max(1, round(rate * tick))
    n = 0
    started = time.monotonic()
    while time.monotonic() < until:
        for _ in range(per_tick):
            logger.log("general", message=f"steady-{name}-{n} a steady event while flooded")
            n += 1
        time.sleep(max(0.0, started + (n / per_tick) * tick - time.monotonic()))
    logged.append(n)


def stored_counts(db: Path) -> tuple[int, Counter[str]]:
    """(flood events stored, how many times each steady event is stored)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    flood = 0
    steady_tags: Counter[str] = Counter()
    try:
        for c in range(10):
            flood += conn.execute(f"SELECT count(*) FROM oslog_general_{c} "
                                  "WHERE message LIKE 'flood %'").fetchone()[0]
            for (m,) in conn.execute(f"SELECT message FROM oslog_general_{c} "
                                     "WHERE message LIKE 'steady-%'"):
                steady_tags[m.split(" ", 1)[0]] += 1
    finally:
        conn.close()
    return flood, steady_tags


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def run(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "LOGCYCLE_API_KEY": KEY,
           "LOGCYCLE_FAULT_WRITE_RATE": str(args.write_rate)}
    log = (data.parent / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "logcycle", "serve", "--data", str(data), "--port", str(port),
         "--log-level", "error", "--max-pending-events", str(args.max_pending)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(port)
        sampler = Sampler(server.pid, port)
        sampler.start()
        idle_rss = sampler.rss()
        started = time.monotonic()
        flood_end = started + args.seconds
        calm_end = flood_end + args.calm
        loggers = [Logger(url, KEY, retry_max=5.0) for _ in range(args.loggers)]
        logged: list[int] = []
        threads = [threading.Thread(target=steady, args=(lg, str(i), args.logger_rate,
                                                         calm_end, logged))
                   for i, lg in enumerate(loggers)]
        for t in threads:
            t.start()
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=flooder, args=(port, flood_end, i, args.connections,
                                                        out))
                 for i in range(args.flooders)]
        for p in procs:
            p.start()
        floods = [FloodResult(**out.get()) for _ in procs]
        for p in procs:
            p.join()
        flood_s = time.monotonic() - started  # until the last request in flight was answered
        flood_rss = max(sampler.rss_mb, default=idle_rss)
        for t in threads:
            t.join()
        delivered = [lg.flush(timeout=args.drain_timeout) for lg in loggers]
        drained_s = time.monotonic() - calm_end
        stats = [lg.stats() for lg in loggers]
        for lg in loggers:
            lg.close(5)
        sampler.stop.set()
        sampler.join()
        flood_stored, steady_tags = stored_counts(data / "logcycle.db")
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    accepted = sum(f.accepted for f in floods)
    rejected = sum(f.rejected for f in floods)
    bad = [b for f in floods for b in f.bad]
    acc_lat = [x for f in floods for x in f.accepted_latency]
    rej_lat = [x for f in floods for x in f.rejected_latency]
    duplicates = sum(n - 1 for n in steady_tags.values() if n > 1)
    return {
        "seconds": args.seconds, "write_rate": args.write_rate,
        "offered_events_per_s": (accepted + rejected) * FLOOD_BATCH / args.seconds,
        "accepted_events_per_s": accepted * FLOOD_BATCH / flood_s, "flood_s": flood_s,
        "accepted": accepted, "rejected_503": rejected, "bad_answers": bad[:10],
        "bad_count": len(bad), "flood_stored": flood_stored,
        "flood_acknowledged": accepted * FLOOD_BATCH,
        "accepted_latency_p50": pct(acc_lat, 0.5), "accepted_latency_max": max(acc_lat,
                                                                              default=0),
        "rejected_latency_p50": pct(rej_lat, 0.5), "rejected_latency_max": max(rej_lat,
                                                                              default=0),
        "health_p50": pct(sampler.health, 0.5), "health_max": max(sampler.health, default=0),
        "page_p50": pct(sampler.page, 0.5), "page_max": max(sampler.page, default=0),
        "read_failures": sampler.failures[:10],
        "rss_idle_mb": idle_rss, "rss_max_mb": max(sampler.rss_mb, default=0),
        "rss_flood_max_mb": flood_rss, "rss_limit_mb": args.rss_limit_mb,
        "logged": sum(logged), "steady_stored": len(steady_tags),
        "steady_duplicates": duplicates, "delivered": all(delivered),
        "drain_s": drained_s,
        "client_retried": sum(s.retried for s in stats),
        "client_dropped": sum(s.dropped_total for s in stats),
    }



def verdicts(r: dict[str, Any]) -> list[tuple[str, bool]]:
    return [
        ("every rejection a 503 with Retry-After", r["bad_count"] == 0),
        ("the writer was overloaded (some 503s)", r["rejected_503"] > 0),
        ("accepted = stored, rejected = not stored", r["flood_stored"]
         == r["flood_acknowledged"]),
        (f"server RSS < {r['rss_limit_mb']} MB", r["rss_max_mb"] < r["rss_limit_mb"]),
        ("reads kept answering", not r["read_failures"]),
        ("retrying clients delivered everything, once",
         r["delivered"] and r["steady_stored"] == r["logged"] and r["steady_duplicates"] == 0
         and r["client_dropped"] == 0),
    ]


def report(r: dict[str, Any]) -> str:
    rows = [
        ("writer limit (LOGCYCLE_FAULT_WRITE_RATE)", f"{r['write_rate']:,} events/s"),
        ("offered by the flood", f"{r['offered_events_per_s']:,.0f} events/s"),
        ("accepted from the flood (until its last answer)",
         f"{r['accepted_events_per_s']:,.0f} events/s"),
        ("flood requests: 200 / 503 / other",
         f"{r['accepted']:,} / {r['rejected_503']:,} / {r['bad_count']}"),
        ("flood events acknowledged / stored",
         f"{r['flood_acknowledged']:,} / {r['flood_stored']:,}"),
        ("accepted request latency p50 / max (s)",
         f"{r['accepted_latency_p50']:.2f} / {r['accepted_latency_max']:.2f}"),
        ("503 latency p50 / max (s)",
         f"{r['rejected_latency_p50']:.3f} / {r['rejected_latency_max']:.2f}"),
        ("GET /health p50 / max (s)", f"{r['health_p50']:.3f} / {r['health_max']:.2f}"),
        ("GET /api/v1/events p50 / max (s)", f"{r['page_p50']:.3f} / {r['page_max']:.2f}"),
        ("server RSS idle / max (MB)", f"{r['rss_idle_mb']:.0f} / {r['rss_max_mb']:.0f}"),
        ("Logger events logged / stored / twice",
         f"{r['logged']:,} / {r['steady_stored']:,} / {r['steady_duplicates']}"),
        ("Logger retries / dropped", f"{r['client_retried']:,} / {r['client_dropped']}"),
        ("Logger backlog delivered after the flood in", f"{r['drain_s']:.1f} s"),
    ]
    w = max(len(k) for k, _ in rows)
    v = max(len(x) for _, x in rows)
    out = [f"Overload for {r['seconds']} s", f"| {'':<{w}} | {'':>{v}} |",
           f"|{'-' * (w + 2)}|{'-' * (v + 2)}|"]
    out += [f"| {k:<{w}} | {x:>{v}} |" for k, x in rows]
    out += ["", *(f"{'ok  ' if ok else 'FAIL'} {what}" for what, ok in verdicts(r))]
    return "\n".join(out)


def attack_main(args: argparse.Namespace) -> None:
    """The connection and header attacks, this checkout beside ``--before``."""
    import attacks

    with tempfile.TemporaryDirectory(prefix="attacks-") as tmp:
        now = attacks.run_all(None, Path(tmp) / "now")
        before = attacks.run_all(args.before, Path(tmp) / "before") if args.before else None
    print(attacks.table(now, before))
    if args.json:
        args.json.write_text(json.dumps({"now": now, "before": before}, indent=1))
    ok = all(r["server_alive"] and r["health"]["failed"] == 0 for r in now.values())
    print("ok   /health answered during every attack" if ok
          else "FAIL /health failed during an attack")
    sys.exit(0 if ok else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the flood")
    ap.add_argument("--calm", type=float, default=5.0,
                    help="seconds the loggers go on after the flood")
    ap.add_argument("--write-rate", type=int, default=5000,
                    help="events/s the writer may commit (LOGCYCLE_FAULT_WRITE_RATE)")
    ap.add_argument("--max-pending", type=int, default=50_000,
                    help="the server's --max-pending-events")
    ap.add_argument("--flooders", type=int, default=2, help="flooding processes")
    ap.add_argument("--connections", type=int, default=40,
                    help="concurrent connections of each flooder")
    ap.add_argument("--loggers", type=int, default=2)
    ap.add_argument("--logger-rate", type=int, default=500, help="events/s per logger")
    ap.add_argument("--rss-limit-mb", type=float, default=300.0)
    ap.add_argument("--drain-timeout", type=float, default=120.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--attacks", action="store_true",
                    help="run the connection and header attacks (bench/attacks.py) instead")
    ap.add_argument("--before", type=Path, default=None,
                    help="with --attacks: also attack the version whose src directory this is")
    args = ap.parse_args()
    if args.attacks:
        attack_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="overload-") as tmp:
        result = run(args, Path(tmp) / "data")
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    sys.exit(0 if all(ok for _, ok in verdicts(result)) else 1)


if __name__ == "__main__":
    main()
