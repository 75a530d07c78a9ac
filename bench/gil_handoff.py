"""What the interpreter's switch interval costs a search while other threads are busy.

    .venv/bin/python bench/gil_handoff.py [--rounds 3] [--searches 60]

A thread decodes 1,000-event JSON batches with msgspec in a loop (the event loop's work
under a stream: Python holding the GIL), while the main thread runs "searches" of six
short SQLite statements each against an in-memory table. Every statement releases the
GIL while SQLite works and must get it back: with the default 5 ms switch interval a
waiting thread gets it only when the holder's interval is up. Printed per switch
interval (alternated, ``--rounds`` times): the search's median and p90 in ms, and the
busy thread's batches per second (what the shorter interval costs the holder).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import threading
import time

import msgspec
import orjson

INTERVALS_MS = (5.0, 1.0, 0.5)


def measure(interval_ms: float, searches: int) -> tuple[float, float, float]:
    sys.setswitchinterval(interval_ms / 1000)
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, m TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)",
                   [(i, f"message number {i} of something") for i in range(200_000)])
    body = orjson.dumps([{"kind": "general", "message": f"hello {i}", "n": i}
                         for i in range(1000)])
    stop = threading.Event()
    done = [0]

    def busy() -> None:
        dec = msgspec.json.Decoder()
        while not stop.is_set():
            for e in dec.decode(body):
                e["n"] += 1
            done[0] += 1

    t = threading.Thread(target=busy)
    t.start()
    t0 = time.perf_counter()
    lat = []
    for k in range(searches):
        s0 = time.perf_counter()
        for q in range(6):
            db.execute("SELECT id, m FROM t WHERE id BETWEEN ? AND ?",
                       (k * 100 + q, k * 100 + q + 3)).fetchall()
        lat.append((time.perf_counter() - s0) * 1000)
        time.sleep(0.02)
    stop.set()
    t.join()
    rate = done[0] / (time.perf_counter() - t0)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.9)], rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--searches", type=int, default=60)
    args = ap.parse_args()
    default = sys.getswitchinterval()
    rows: dict[float, list[tuple[float, float, float]]] = {v: [] for v in INTERVALS_MS}
    for _ in range(args.rounds):
        for v in INTERVALS_MS:
            rows[v].append(measure(v, args.searches))
    sys.setswitchinterval(default)
    try:
        import os
        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"GIL hand-off: a search of 6 statements beside a busy thread, {args.rounds} "
          f"rounds alternated (load average {load})")
    print("| switch interval | search median ms | search p90 ms (worst round) | "
          "busy thread batches/s (median) |")
    print("| --- | --- | --- | --- |")
    for v, got in rows.items():
        print(f"| {v:g} ms | {statistics.median(g[0] for g in got):.2f} | "
              f"{max(g[1] for g in got):.2f} | {statistics.median(g[2] for g in got):,.0f} |")


if __name__ == "__main__":
    main()
