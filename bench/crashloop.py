"""Crash loop: clients ingest while the server is killed with SIGKILL at a random moment
and restarted, again and again; after each restart, count what was lost.

    .venv/bin/python bench/crashloop.py [--iterations 100] [--clients 4] [--batch 50]
                                        [--durability normal] [--seed 1] [--json FILE]

Each iteration: the clients send batches of `general` events, each batch with its own
`Idempotency-Key`; after a random delay (`--kill-after`, seconds) the server gets SIGKILL.
A client whose request got no answer keeps that batch; after the restart it sends it
again with the same key (as logcycle.client does). Then, read straight from the SQLite
file:

- acknowledged events lost: events whose id a 200 answered that are not stored with
  that id and that message;
- duplicates: events of a batch stored more than once (a retried batch stored twice);
- ``PRAGMA integrity_check`` of the file the kill left behind (before the restart), and
  the FTS5 ``integrity-check`` of each message search index;
- search after the restart: a few acknowledged events, looked up by their unique words
  (``GET /api/v1/events?q=``), are found, once each;
- restart to ready: from starting ``logcycle serve`` until ``/health`` answers 200.

Exit status 1 when any iteration lost an acknowledged event, stored a duplicate, failed
the integrity check, or took 5 s or more to be ready.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, free_port, message

READY_LIMIT_S = 5.0
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


@dataclass
class Batch:
    key: str
    tags: list[str]
    body: bytes
    ids: list[int] | None = None  # the acknowledged ids
    retried: bool = False


@dataclass
class Iteration:
    n: int
    kill_after_s: float
    acked_before_kill: int = 0  # events
    in_flight: int = 0  # batches without an answer at the kill
    replayed: int = 0  # of those, already committed: answered from the idempotency record
    lost: int = 0
    duplicates: int = 0
    search_wrong: int = 0
    integrity: str = ""
    ready_s: float = 0.0


@dataclass
class Summary:
    iterations: list[Iteration] = field(default_factory=list)
    events: int = 0
    db_bytes: int = 0

    @property
    def ok(self) -> bool:
        return all(i.lost == 0 and i.duplicates == 0 and i.integrity == "ok"
                   and i.search_wrong == 0 and i.ready_s < READY_LIMIT_S
                   for i in self.iterations)


class Server:
    """``logcycle serve`` on a data directory; its output goes to ``server.log``."""

    def __init__(self, data: Path, durability: str) -> None:
        self.data = data
        self.port = free_port()
        self.durability = durability
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = (data.parent / "server.log").open("ab")

    def start(self) -> float:
        """Start it; the seconds until /health answered 200."""
        env = {**os.environ, "LOGCYCLE_API_KEY": KEY}
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logcycle", "serve", "--data", str(self.data), "--port",
             str(self.port), "--log-level", "warning", "--durability", self.durability],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < 60:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): see "
                                   f"{self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.monotonic() - started
                conn.close()
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("the server did not become ready in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()


def post(conn: http.client.HTTPConnection, batch: Batch) -> list[int] | None:
    """Send ``batch``; its ids on 200, None on 503 (to retry); raises on no answer."""
    conn.request("POST", "/api/v1/events", body=batch.body,
                 headers={**HEADERS, "Idempotency-Key": batch.key})
    r = conn.getresponse()
    data = r.read()
    if r.status == 200:
        ids: list[int] = orjson.loads(data)["ids"]
        return ids
    if r.status == 503:
        return None
    raise RuntimeError(f"unexpected answer {r.status}: {data[:200]!r}")


class Client(threading.Thread):
    """Sends batches until it gets no answer (the server died) or is told to stop."""

    def __init__(self, port: int, name: str, size: int, rng: random.Random,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.name_, self.size, self.rng, self.stop = port, name, size, rng, stop
        self.sent: list[Batch] = []
        self.unanswered: Batch | None = None
        self.error: BaseException | None = None

    def make_batch(self) -> Batch:
        b = len(self.sent)
        tags = [f"{self.name_}-{b}-{j}" for j in range(self.size)]
        events = [{"kind": "general", "instant": 1_700_000_000_000, "message":
                   f"{tag} {message(self.rng)}", "request_key": f"{self.name_}-{b}"}
                  for tag in tags]
        return Batch(f"{self.name_}-{b}", tags, orjson.dumps(events))

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.is_set():
                batch = self.make_batch()
                self.sent.append(batch)
                while batch.ids is None:
                    try:
                        batch.ids = post(conn, batch)
                    except (OSError, http.client.HTTPException):
                        self.unanswered = batch
                        return
                    if batch.ids is None:
                        time.sleep(0.05)
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            conn.close()


def retry(port: int, batch: Batch) -> list[int]:
    """What logcycle.client does with a batch that got no answer: send it again, same key."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while True:
            ids = post(conn, batch)
            if ids is not None:
                return ids
            time.sleep(0.05)
    finally:
        conn.close()


def stored_since(db: Path, low: int) -> list[tuple[int, str]]:
    """(id, tag) of every general event with an id above ``low``, in every cycle."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        union = " UNION ALL ".join(f"SELECT id, message FROM oslog_general_{c} WHERE id > ?"
                                   for c in range(10))
        rows = conn.execute(union, (low,) * 10).fetchall()
    finally:
        conn.close()
    return [(int(i), str(m).split(" ", 1)[0]) for i, m in rows]


def integrity(db: Path) -> str:
    """``ok``, or what SQLite's integrity checks found: the main file's, and the message
    index file's (``logcycle.db-search``) with each FTS5 index's."""
    found = _integrity(db)
    index = db.with_name(db.name + "-search")
    if index.exists():
        found += [f"{index.name}: {f}" for f in _integrity(index)]
    return ", ".join(found) or "ok"


def _integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        found = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name LIKE 'lc\\_search\\_%' ESCAPE '\\' AND sql "
                                     "LIKE 'CREATE VIRTUAL TABLE%'").fetchall():
            try:
                conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 0)")
            except sqlite3.Error as exc:
                found.append(f"{table}: {exc}")
        conn.rollback()
        return [f for f in found if f != "ok"]
    finally:
        conn.close()


def search_check(port: int, batches: list[Batch], rng: random.Random, n: int = 3) -> int:
    """Look up ``n`` acknowledged events by their unique tag; how many were not found
    exactly once, with their id."""
    acked = [(tag, i) for b in batches if b.ids for tag, i in zip(b.tags, b.ids, strict=True)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    wrong = 0
    try:
        for tag, i in rng.sample(acked, min(n, len(acked))):
            query = urllib.parse.urlencode({"kind": "general", "q": f"{tag} ", "limit": 5})
            conn.request("GET", f"/api/v1/events?{query}", headers=HEADERS)
            r = conn.getresponse()
            body = r.read()
            ids = [e["id"] for e in orjson.loads(body)["events"]] if r.status == 200 else []
            wrong += ids != [i]
    finally:
        conn.close()
    return wrong


def next_id(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM lc_meta WHERE name = 'next_id'").fetchone()
        return int(row[0]) if row else 1
    finally:
        conn.close()


def check(it: Iteration, batches: list[Batch], rows: list[tuple[int, str]]) -> None:
    """Count lost acknowledged events and duplicates among this iteration's rows."""
    by_tag: dict[str, list[int]] = {}
    for i, tag in rows:
        by_tag.setdefault(tag, []).append(i)
    for b in batches:
        assert b.ids is not None
        for tag, i in zip(b.tags, b.ids, strict=True):
            found = by_tag.get(tag, [])
            if i not in found:
                it.lost += 1
            it.duplicates += max(0, len(found) - 1)
    sent = {t for b in batches for t in b.tags}
    it.duplicates += sum(1 for tag in by_tag if tag not in sent)  # stored, never sent?


def one_iteration(n: int, server: Server, db: Path, args: argparse.Namespace,
                  rng: random.Random) -> Iteration:
    it = Iteration(n, round(rng.uniform(*args.kill_after), 3))
    low = next_id(db) - 1
    stop = threading.Event()
    clients = [Client(server.port, f"i{n}c{c}", args.batch, random.Random(rng.random()), stop)
               for c in range(args.clients)]
    for c in clients:
        c.start()
    time.sleep(it.kill_after_s)
    server.kill()
    stop.set()
    for c in clients:
        c.join()
        if c.error is not None:
            raise RuntimeError(f"client {c.name_} failed") from c.error
    batches = [b for c in clients for b in c.sent]
    it.acked_before_kill = sum(len(b.tags) for b in batches if b.ids is not None)
    it.integrity = integrity(db)
    it.ready_s = round(server.start(), 3)
    committed_below = next_id(db)
    for c in clients:
        if c.unanswered is not None:
            it.in_flight += 1
            b = c.unanswered
            b.retried = True
            b.ids = retry(server.port, b)
            it.replayed += b.ids[0] < committed_below
    check(it, batches, stored_since(db, low))
    it.search_wrong = search_check(server.port, batches, rng)
    return it


def run(args: argparse.Namespace, workdir: Path) -> Summary:
    rng = random.Random(args.seed)
    data = workdir / "data"
    db = data / "logcycle.db"
    server = Server(data, args.durability)
    server.start()
    summary = Summary()
    try:
        for n in range(1, args.iterations + 1):
            it = one_iteration(n, server, db, args, rng)
            summary.iterations.append(it)
            if args.verbose or not (it.lost == 0 and it.duplicates == 0
                                    and it.integrity == "ok" and it.search_wrong == 0):
                print(f"  {asdict(it)}", flush=True)
            elif n % 10 == 0:
                print(f"  {n} iterations", flush=True)
        summary.events = next_id(db) - 1
    finally:
        server.stop()
    summary.db_bytes = sum(p.stat().st_size for p in data.glob("logcycle.db*"))
    return summary


def report(s: Summary, args: argparse.Namespace) -> str:
    its = s.iterations
    ready = sorted(i.ready_s for i in its)
    p95 = ready[min(len(ready) - 1, int(len(ready) * 0.95))]
    rows = [
        ("iterations (SIGKILL + restart)", f"{len(its)}"),
        ("events stored in all", f"{s.events:,}"),
        ("events acknowledged before a kill", f"{sum(i.acked_before_kill for i in its):,}"),
        ("batches in flight at a kill, sent again with their key",
         f"{sum(i.in_flight for i in its)}"),
        ("  of which already committed (answered from the key)",
         f"{sum(i.replayed for i in its)}"),
        ("acknowledged events lost", f"{sum(i.lost for i in its)}"),
        ("events stored twice", f"{sum(i.duplicates for i in its)}"),
        ("integrity_check (file, FTS5 indexes) not ok",
         f"{sum(i.integrity != 'ok' for i in its)}"),
        ("acknowledged events not found by search (3 a restart)",
         f"{sum(i.search_wrong for i in its)}"),
        ("restart to ready, median / p95 / max (s)",
         f"{statistics.median(ready):.2f} / {p95:.2f} / {ready[-1]:.2f}"),
        ("store file size", f"{s.db_bytes / 1e6:,.0f} MB"),
    ]
    w = max(len(r[0]) for r in rows)
    out = [f"Crash loop: {args.clients} clients, batches of {args.batch}, kill after "
           f"{args.kill_after[0]}-{args.kill_after[1]} s, --durability {args.durability}",
           f"| {'':<{w}} | {'':>18} |", f"|{'-' * (w + 2)}|{'-' * 20}|"]
    out += [f"| {k:<{w}} | {v:>18} |" for k, v in rows]
    out.append(f"\n{'PASS' if s.ok else 'FAIL'} (goal: 0 lost, 0 twice, integrity ok, all "
               f"found, ready < {READY_LIMIT_S:.0f} s)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50, help="events per batch")
    ap.add_argument("--kill-after", type=float, nargs=2, default=(0.05, 0.6),
                    metavar=("MIN", "MAX"), help="seconds of load before the kill")
    ap.add_argument("--durability", choices=("normal", "full"), default="normal")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    ap.add_argument("--verbose", action="store_true", help="print every iteration")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crashloop-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        summary = run(args, workdir)
        print(report(summary, args))
        print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"ok": summary.ok, "events": summary.events,
                                         "db_bytes": summary.db_bytes,
                                         "iterations": [asdict(i) for i in summary.iterations]},
                                        indent=1))
    sys.exit(0 if summary.ok else 1)


if __name__ == "__main__":
    main()
