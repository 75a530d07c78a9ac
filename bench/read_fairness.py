"""Read fairness: one key's heavy searches beside another key's small listing.

    .venv/bin/python bench/read_fairness.py [--events 100000] [--heavy 20] [--json FILE]

A real server (SQLite, default 4 read threads) is loaded with ``--events`` event logs.
Key A then sends ``--heavy`` concurrent Event Log searches ordered by message at the
deepest page allowed (``orderBy=message ASC&startRow=10000``), while key B lists
``limit=1`` ten times a second. Printed: B's listing latency alone, and during A's
searches with the per-key bound (``--reads-per-key`` default: all read threads but one)
and without it (``--reads-per-key 4``: A may take every thread, as before issue 16),
each in the same run on the same data; and the cost of one heavy search alone at
startRow 0 and 10,000, and of the refused ``startRow=100000``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server, event

HEAVY = {"orderBy": "message ASC", "startRow": "10000"}
SEARCH = "/api/system/event-log/search"


def make_key(data: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "logcycle", "keys", "create", "--scope",
                          "read", "--data", str(data)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return out.split()[-1]


def load(url: str, n: int) -> None:
    rng = random.Random(7)
    now = int(time.time() * 1000)
    with httpx.Client(headers={"Authorization": KEY}, timeout=60) as c:
        for start in range(0, n, 5000):
            batch = [event(rng, now) for _ in range(min(5000, n - start))]
            assert c.post(url + "/api/v1/events", json=batch).status_code == 200


def timed(c: httpx.Client, url: str, params: dict[str, str]) -> tuple[float, int]:
    t = time.perf_counter()
    r = c.get(url, params=params)
    return (time.perf_counter() - t) * 1000, r.status_code


def listings(url: str, key: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(headers={"Authorization": key}, timeout=120) as c:
        while not stop.is_set():
            ms, status = timed(c, url + "/api/v1/events", {"limit": "1"})
            assert status == 200
            out.append(ms)
            time.sleep(0.1)


def under_heavy(server: Server, key_b: str, heavy: int) -> dict[str, float]:
    """B's listing latencies while A's ``heavy`` searches run (A is the env key)."""
    lat: list[float] = []
    stop = threading.Event()
    lister = threading.Thread(target=listings, args=(server.url, key_b, stop, lat))
    heavies: list[float] = []

    def one() -> None:
        with httpx.Client(headers={"Authorization": KEY}, timeout=300) as c:
            ms, status = timed(c, server.url + SEARCH, HEAVY)
            assert status == 200, status
            heavies.append(ms)

    threads = [threading.Thread(target=one) for _ in range(heavy)]
    lister.start()
    time.sleep(0.3)
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    took = time.perf_counter() - started
    stop.set()
    lister.join(120)
    return {"listing_median_ms": statistics.median(lat), "listing_max_ms": max(lat),
            "listings": len(lat), "heavy_all_s": took,
            "heavy_median_ms": statistics.median(heavies)}


def run(events: int, heavy: int, reads_per_key: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        extra = ("--reads-per-key", str(reads_per_key)) if reads_per_key else ()
        server = Server(data, *extra)
        try:
            load(server.url, events)
            key_b = make_key(data)
            with httpx.Client(headers={"Authorization": key_b}, timeout=300) as c:
                alone = [timed(c, server.url + "/api/v1/events", {"limit": "1"})[0]
                         for _ in range(20)]
                costs = {f"search_startRow_{row}_ms": timed(c, server.url + SEARCH, {
                    "orderBy": "message ASC", "startRow": row})[0]
                    for row in ("0", "10000")}
                refused_ms, refused = timed(c, server.url + SEARCH,
                                            {"orderBy": "message ASC", "startRow": "100000"})
                assert refused == 400
            result = {"listing_alone_median_ms": statistics.median(alone), **costs,
                      "refused_startRow_100000_ms": refused_ms,
                      **under_heavy(server, key_b, heavy)}
        finally:
            server.stop()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--heavy", type=int, default=20)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    fair = run(a.events, a.heavy, None)
    unbounded = run(a.events, a.heavy, 4)
    print(f"{a.events} event logs, SQLite, 4 read threads; key A: {a.heavy} concurrent "
          f"searches {HEAVY}; key B: limit=1 listings")
    print(f"{'':44} {'per-key bound (3)':>18} {'no bound (4 of 4)':>18}")
    rows = [("B's listing alone, median ms", "listing_alone_median_ms"),
            ("B's listing during A's searches, median ms", "listing_median_ms"),
            ("B's listing during A's searches, max ms", "listing_max_ms"),
            ("A's searches, all done in s", "heavy_all_s"),
            ("one heavy search, median under load, ms", "heavy_median_ms"),
            ("one search alone, startRow=0, ms", "search_startRow_0_ms"),
            ("one search alone, startRow=10000, ms", "search_startRow_10000_ms"),
            ("startRow=100000 (refused, 400), ms", "refused_startRow_100000_ms")]
    for label, k in rows:
        print(f"{label:44} {fair[k]:>18.1f} {unbounded[k]:>18.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"fair": fair, "unbounded": unbounded}, indent=2))


if __name__ == "__main__":
    main()
