"""What the web page waits for, on a store of N events (default 1,000,000).

    .venv/bin/python bench/web.py [--events 1000000] [--rounds 7] [--data DIR]

Seeds a store with realistic requests spread over the last 7 days (bench/demo.py; reused
from DIR when it is fresh), starts `logcycle serve` on it and times over HTTP what the page
asks for: the first page of results and the histogram for the quick picks and typical
filters, a request tree, and how long a new event takes to reach a live tail. Beside the
histograms: the floor, a bare `count(*)` over the same rows in one SQLite connection.
The budget of the issue is 300 ms for the first page and for the histogram.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server
from demo import seed

HOUR = 3_600_000
DAY = 24 * HOUR
BUDGET_MS = 300.0


class Client:
    """One keep-alive HTTP connection with the key, as the page uses."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {KEY}"}

    def get(self, path: str, **params: Any) -> tuple[float, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        start = time.perf_counter()
        self.conn.request("GET", f"{path}?{query}", headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - start) * 1000
        if r.status != 200:
            raise RuntimeError(f"{path} {params}: {r.status} {body[:200]!r}")
        return ms, json.loads(body)

    def post(self, path: str, body: Any) -> Any:
        self.conn.request("POST", path, body=json.dumps(body),
                          headers={**self.headers, "Content-Type": "application/json"})
        r = self.conn.getresponse()
        return json.loads(r.read())


def fresh_store(data: Path, events: int) -> int:
    """The store in ``data``, seeded now unless it holds ``events`` events seeded < 30 min
    ago (its time ranges are relative to now). Returns the seed instant."""
    marker = data / "bench-seeded.json"
    now = int(time.time() * 1000)
    if marker.exists():
        info = json.loads(marker.read_text())
        if info["events"] == events and now - info["at"] < 30 * 60_000:
            return int(info["at"])
    if data.exists():
        for f in data.iterdir():
            f.unlink()
    print(f"seeding {events:,} events over 7 days into {data} ...", flush=True)
    t = time.perf_counter()
    seed(data, events=events, span_ms=7 * DAY, now_ms=now, batch=500)
    print(f"seeded in {time.perf_counter() - t:.0f} s", flush=True)
    marker.write_text(json.dumps({"events": events, "at": now}))
    return now


def floor_count(db: Path, start: int, end: int) -> float:
    """ms of a bare count(*) of [start, end] over every kind table: the scan's floor."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'oslog_*_[0-9]'")]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for name in tables:
            conn.execute(f"SELECT count(*) FROM {name} WHERE insert_instant BETWEEN ? AND ?",
                         (start, end)).fetchone()
        best = min(best, (time.perf_counter() - t) * 1000)
    conn.close()
    return best


def timed(client: Client, rounds: int, path: str, **params: Any) -> tuple[float, float, Any]:
    """(first call ms, median of the next rounds ms, last answer)."""
    first, body = client.get(path, **params)
    times = []
    for _ in range(rounds):
        ms, body = client.get(path, **params)
        times.append(ms)
    return first, statistics.median(times), body


def tail_latency(port: int, client: Client, samples: int = 10) -> list[float]:
    """ms from POSTing an event to reading it from /api/v1/tail."""
    got: dict[str, float] = {}
    ready = threading.Event()

    def reader() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/v1/tail?kind=error&message=bench-tail-*",
                     headers={"Authorization": f"Bearer {KEY}"})
        r = conn.getresponse()
        while len(got) < samples:
            line = r.readline().decode()
            if line.startswith("event: ready"):
                ready.set()
            if line.startswith("data: ") and "bench-tail-" in line:
                got[json.loads(line[6:])["message"]] = time.perf_counter()
        conn.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait(10)
    sent: dict[str, float] = {}
    for i in range(samples):
        name = f"bench-tail-{i}"
        sent[name] = time.perf_counter()
        client.post("/api/v1/events", [{"kind": "error", "instant": int(time.time() * 1000),
                                        "module_name": "bench", "message": name}])
        time.sleep(0.37)
    thread.join(15)
    return [(got[k] - sent[k]) * 1000 for k in sent if k in got]


def in_browser(url: str, rounds: int,
               chromium: str = "/usr/bin/chromium") -> list[tuple[str, float]]:
    """ms from a click on a quick pick to the results and the histogram drawn, in Chromium
    (empty when Playwright or Chromium is missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    if not Path(chromium).exists():
        return []
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    out: list[tuple[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.fill("#key", KEY)
        page.click("#signin-submit")
        page.wait_for_selector("#view-search[data-searches]")
        for pick, label in [("1h", "1 hour"), ("24h", "1 day"), ("7d", "1 week")]:
            times = []
            for _ in range(rounds):
                done = int(page.get_attribute("#view-search", "data-searches") or 0)
                start = time.perf_counter()
                page.click(f"#quick button[data-range='{pick}']")
                page.wait_for_function("n => +document.getElementById('view-search')"
                                       ".dataset.searches > n", arg=done)
                times.append((time.perf_counter() - start) * 1000)
            out.append((f"in Chromium: click {label} → 100 rows and the histogram drawn",
                        statistics.median(times)))
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    data = args.data or Path(tempfile.gettempdir()) / f"logcycle-bench-web-{args.events}"
    fresh_store(data, args.events)
    server = Server(data)
    try:
        run(server, data, args.events, args.rounds)
    finally:
        server.stop()


def run(server: Server, data: Path, events: int, rounds: int) -> None:
    c = Client(server.port)
    _, me = c.get("/api/v1/whoami")
    now = me["now"]
    prev = (me["previous_week_start"], me["week_start"] - 1)
    _, some = c.get("/api/v1/events", kind="screen", limit=1, start=now - 7 * DAY)
    request_key = some["events"][0]["request_key"]
    ranges = {"15 min": (now - 15 * 60_000, now), "1 hour": (now - HOUR, now),
              "1 day": (now - DAY, now), "1 week": (now - 7 * DAY, now), "previous week": prev}
    rows: list[tuple[str, float, float, str]] = []
    for name, (start, end) in ranges.items():
        first, med, body = timed(c, rounds, "/api/v1/events", start=start, end=end, limit=100)
        rows.append((f"first page, {name}", first, med, f"{len(body['events'])} events"))
    week = ranges["1 week"]
    searches = {"message=*timeout*retry* (common)": {"message": "*timeout*retry*"},
                "message=*deadlock* (rare)": {"message": "*deadlock*"},
                "kind=error, module=billing": {"kind": "error", "module": "billing"},
                "type=Error, src=device/7": {"type": "Error", "src": "device/7"}}
    for name, f in searches.items():
        first, med, body = timed(c, rounds, "/api/v1/events", start=week[0], end=week[1],
                                 limit=100, **f)
        rows.append((f"first page, 1 week, {name}", first, med, f"{len(body['events'])} events"))
    db = data / "logcycle.db"
    for name, (start, end) in ranges.items():
        first, med, body = timed(c, rounds, "/api/v1/histogram", start=start, end=end,
                                 buckets=120)
        rows.append((f"histogram, {name}", first, med,
                     f"{body['total']:,} counted; floor {floor_count(db, start, end):.0f} ms"))
    for name, f in searches.items():
        first, med, body = timed(c, rounds, "/api/v1/histogram", start=week[0], end=week[1],
                                 buckets=120, **f)
        rows.append((f"histogram, 1 week, {name}", first, med, f"{body['total']:,} counted"))
    first, med, body = timed(c, rounds, f"/api/v1/requests/{request_key}")
    rows.append(("request tree (one request_key)", first, med, f"{body['count']} events"))
    lat = tail_latency(server.port, c)
    page = in_browser(server.url, rounds)
    print(f"\nWeb: {events:,} events over 7 days, SQLite, {rounds} rounds after a first call")
    print(f"| {'what the page asks for':<58} | {'first':>7} | {'median':>7} | note |")
    print(f"|{'-' * 60}|{'-' * 9}|{'-' * 9}|------|")
    for name, first, med, note in rows:
        flag = " **over budget**" if med > BUDGET_MS else ""
        print(f"| {name:<58} | {first:>4.0f} ms | {med:>4.0f} ms | {note}{flag} |")
    if lat:
        print(f"| {'live tail: POST → event read from the stream':<58} | {'':>7} | "
              f"{statistics.median(lat):>4.0f} ms | max {max(lat):.0f} ms of {len(lat)}; "
              "polls every 500 ms |")
    for name, med in page:
        print(f"| {name:<58} | {'':>7} | {med:>4.0f} ms | the page's own round trip |")
    print(f"\nBudget: {BUDGET_MS:.0f} ms for the first page and for the histogram.")


if __name__ == "__main__":
    main()
