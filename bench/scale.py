"""Scale: the same reads on a store of 100,000 events and on one of 10,000,000 (ten weeks
each, made by bench/generate.py), side by side, and rotation of a full week.

    .venv/bin/python bench/scale.py            # generates both stores in a temp dir first
    .venv/bin/python bench/generate.py --events 100000 --data /tmp/scale-100k
    .venv/bin/python bench/generate.py --events 10000000 --data /tmp/scale-10m
    .venv/bin/python bench/scale.py --small /tmp/scale-100k --large /tmp/scale-10m

Generating ten million events takes about 3 minutes and 2.7 GB here.

Both stores are served at once by real ``logcycle serve`` processes and read over HTTP,
the two alternating request by request (noise of the shared machine then falls on both);
each figure is the median of ``--repeat`` requests after a warm-up (the files are in the
page cache: these are warm reads):

- keyset listing: the first page (``GET /api/v1/events?limit=100``) and a deep page
  (``after`` = the middle of the oldest week);
- a request tree (``GET /api/v1/requests/{key}``) of a request in the oldest week;
- a selective wildcard search, Event Log API (``GET /api/system/event-log/search?
  message=*zqxneedle*``: page of 25 and the exact total; the word is in 100 events in
  both stores), and the native ``GET /api/v1/events?q=zqxneedle&kind=general&limit=25``
  (both read through the message index);

then, on a copy of each file (the stores are left as they were): two seconds of ingest,
SIGKILL of the server and the time until a new one is ready; rotation and retention to
the next week (one Maintain task, which empties the oldest full week, a whole cycle, and
moves the views); and the file size per event. The goal: each read at 10M within 2x
of its latency at 100k, rotation under a second. Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server
from generate import generate

from logcycle import cycles
from logcycle.ingest.tasks import Maintain
from logcycle.query.filters import encode_token
from logcycle.store.sqlite import SQLiteStore

UTC = ZoneInfo("UTC")
HEADERS = {"Authorization": f"Bearer {KEY}"}


class Target:
    """One generated store: its server, what generate.py recorded, the paths to read."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.meta: dict[str, Any] = json.loads((data / "generate.json").read_text())
        self.server = Server(data)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        self.paths = self._paths()

    def _paths(self) -> dict[str, str]:
        weeks = sorted(self.meta["weeks"], key=int)
        oldest = weeks[0]
        low, high = id_range(self.data / "logcycle.db", int(oldest) % cycles.CYCLES)
        key = self.meta["weeks"][oldest]["request_keys"][len(
            self.meta["weeks"][oldest]["request_keys"]) // 2]
        needle = self.meta["needle"]
        return {
            "keyset listing, first page (100)": "/api/v1/events?limit=100",
            "keyset listing, deep page (oldest week)":
                f"/api/v1/events?limit=100&after={encode_token((low + high) // 2)}",
            "request tree (oldest week)": f"/api/v1/requests/{urllib.parse.quote(key)}",
            "wildcard search, Event Log API (25 + total)":
                "/api/system/event-log/search?" + urllib.parse.urlencode(
                    {"message": f"*{needle}*"}),
            "substring search, native q (25)":
                f"/api/v1/events?kind=general&limit=25&q={needle}",
        }

    def get(self, path: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=HEADERS)
        r = self.conn.getresponse()
        body = r.read()
        took = time.perf_counter() - started
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
        return took, body

    def stop(self) -> None:
        self.conn.close()
        self.server.stop()


def id_range(db: Path, cycle: int) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        low, high = conn.execute(f"SELECT min(id), max(id) FROM oslog_general_{cycle}").fetchone()
        return int(low), int(high)
    finally:
        conn.close()


def describe(label: str, body: bytes) -> str:
    data = orjson.loads(body)
    if "eventLogs" in data:
        return f"{len(data['eventLogs'])} of {data['total']}"
    if "events" in data:
        return f"{len(data['events'])} events"
    return f"{data.get('count', '?')} events"


def measure_reads(small: Target, large: Target, repeat: int) -> list[dict[str, Any]]:
    out = []
    for label in small.paths:
        times: dict[str, list[float]] = {"small": [], "large": []}
        answers = {}
        for name, t in (("small", small), ("large", large)):
            _, body = t.get(t.paths[label])  # warm-up
            answers[name] = describe(label, body)
        for _ in range(repeat):
            for name, t in (("small", small), ("large", large)):
                times[name].append(t.get(t.paths[label])[0])
        s, lg = statistics.median(times["small"]), statistics.median(times["large"])
        out.append({"what": label, "small_ms": s * 1000, "large_ms": lg * 1000,
                    "ratio": lg / s, "small_answer": answers["small"],
                    "large_answer": answers["large"], "goal": True})
        print(f"  {label}: {s * 1000:.2f} ms vs {lg * 1000:.2f} ms", flush=True)
    return out


def crash_restart(data: Path, seconds: float = 2.0) -> dict[str, Any]:
    """Ingest into the store for ``seconds``, SIGKILL the server, start it again: the
    seconds from the start until /health answers 200, and the WAL it had to recover."""
    server = Server(data)
    stop = threading.Event()
    body = orjson.dumps([{"kind": "general", "instant": 1_700_000_000_000,
                          "message": f"after the crash test {i}"} for i in range(1000)])

    def load() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while not stop.is_set():
            try:
                conn.request("POST", "/api/v1/events", body=body,
                             headers={**HEADERS, "Content-Type": "application/json"})
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                return

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    wal = (data / "logcycle.db-wal").stat().st_size
    server.proc.kill()
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    started = time.perf_counter()
    server = Server(data)
    ready = time.perf_counter() - started
    server.stop()
    return {"ready_s": ready, "wal_bytes": wal}


def on_a_copy(data: Path) -> dict[str, Any]:
    """On a copy of the store (deleted afterwards): restart after a kill -9 under ingest,
    then rotation and retention to the next week (seconds, rows emptied)."""
    copy = data.parent / f"{data.name}-copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    shutil.copyfile(data / "logcycle.db", copy / "logcycle.db")
    try:
        crash = crash_restart(copy)
        store = SQLiteStore(f"sqlite:///{copy / 'logcycle.db'}", tz=UTC, retention_weeks=9)
        try:
            store.open(0, maintain=False)
            held = store.held()
            week = max(w for w in held.values() if w is not None)
            before = sum(store.table_sizes().values())
            at = cycles.week_start_ms(week + 1, UTC) + 1
            started = time.perf_counter()
            (report,) = store.apply([Maintain(at)], at)
            took = time.perf_counter() - started
            if isinstance(report, Exception):
                raise report
            emptied = before - sum(store.table_sizes().values())
        finally:
            store.close()
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return {"seconds": took, "rows_emptied": emptied, "cycles_emptied": list(report.emptied),
            **crash}


def sizes(data: Path, events: int) -> dict[str, float]:
    """Bytes per event: the whole file, and by part (dbstat, when SQLite has it)."""
    files = sum(p.stat().st_size for p in data.glob("logcycle.db*"))
    out = {"total": files / events}
    conn = sqlite3.connect(f"file:{data / 'logcycle.db'}?mode=ro", uri=True)
    try:
        parts = {"tables": 0, "request-key index": 0, "search index": 0}
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            part = ("request-key index" if name.startswith("lc_rk_") else "search index"
                    if name.startswith("lc_search_") else "tables")
            parts[part] += size
        index = data / "logcycle.db-search"  # the message index's own file
        parts["search index"] += index.stat().st_size if index.exists() else 0
        out |= {k: v / events for k, v in parts.items()}
    except sqlite3.Error:
        pass
    finally:
        conn.close()
    return out


def report(reads: list[dict[str, Any]], rot: dict[str, dict[str, Any]],
           size: dict[str, dict[str, float]], small_n: int, large_n: int) -> tuple[str, bool]:
    ok = True
    lines = [f"| operation | {small_n:,} events | {large_n:,} events | ratio | goal |",
             "|---|---|---|---|---|"]
    for r in reads:
        met = r["ratio"] <= 2.0 or not r["goal"]
        ok &= met
        goal = ("≤ 2x " + ("ok" if met else "MISSED")) if r["goal"] else "(reported)"
        lines.append(f"| {r['what']} | {r['small_ms']:.2f} ms ({r['small_answer']}) | "
                     f"{r['large_ms']:.2f} ms ({r['large_answer']}) | {r['ratio']:.2f}x | "
                     f"{goal} |")
    s, lg = rot["small"], rot["large"]
    met = lg["seconds"] < 1.0
    ok &= met
    lines.append(f"| rotation + retention to the next week (1 Maintain task) | "
                 f"{s['seconds'] * 1000:.0f} ms ({s['rows_emptied']:,} rows emptied) | "
                 f"{lg['seconds'] * 1000:.0f} ms ({lg['rows_emptied']:,} rows emptied) | "
                 f"{lg['seconds'] / s['seconds']:.1f}x | < 1 s {'ok' if met else 'MISSED'} |")
    lines.append(f"| restart to ready after kill -9 under ingest (WAL to recover) | "
                 f"{s['ready_s']:.2f} s ({s['wal_bytes'] / 1e6:.0f} MB) | "
                 f"{lg['ready_s']:.2f} s ({lg['wal_bytes'] / 1e6:.0f} MB) | | < 5 s "
                 f"{'ok' if lg['ready_s'] < 5 else 'MISSED'} |")
    ok &= lg["ready_s"] < 5
    for part in size["large"]:
        lines.append(f"| file size per event: {part} | {size['small'].get(part, 0):.0f} B | "
                     f"{size['large'].get(part, 0):.0f} B | | |")
    return "\n".join(lines), ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=Path, default=None,
                    help="data dir of a store made by generate.py (default: generate one)")
    ap.add_argument("--large", type=Path, default=None, help="the same, large")
    ap.add_argument("--small-events", type=int, default=100_000)
    ap.add_argument("--large-events", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        for name, events in (("small", args.small_events), ("large", args.large_events)):
            if getattr(args, name) is None:
                setattr(args, name, Path(tmp) / name)
                print(f"generating {events:,} events in {getattr(args, name)}", flush=True)
                generate(getattr(args, name), events, 10, 50_000, 100, 1)
        ok = measure(args)
    sys.exit(0 if ok else 1)


def measure(args: argparse.Namespace) -> bool:
    small, large = Target(args.small), Target(args.large)
    try:
        reads = measure_reads(small, large, args.repeat)
    finally:
        small.stop()
        large.stop()
    rot = {"small": on_a_copy(args.small), "large": on_a_copy(args.large)}
    n_small, n_large = small.meta["events"], large.meta["events"]
    size = {"small": sizes(args.small, n_small), "large": sizes(args.large, n_large)}
    table, ok = report(reads, rot, size, n_small, n_large)
    print(f"\nScale: warm reads over HTTP, medians of {args.repeat}\n{table}")
    print(f"\n{'PASS' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"reads": reads, "rotation": rot, "bytes_per_event":
                                         size, "ok": ok}, indent=1))
    return ok


if __name__ == "__main__":
    main()
