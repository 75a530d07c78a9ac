"""Generate a store of N events over ten weeks, straight into SQLite, for bench/scale.py.

    .venv/bin/python bench/generate.py --events 10000000 --data /tmp/scale-10m [--weeks 10]

Writes through the store's own write path (``SQLiteStore.apply`` with validated
``EventBatch`` es of ``--group`` events, as the writer thread would, with a clock that
moves week by week), then builds the indexes behind the writer (request keys, message
search) as the writer thread does between writes. The last of the ``--weeks`` weeks is
the current one, so a server started on the store afterwards keeps everything (with the
default retention of 9 weeks, ten weeks are held).

The events are requests: a top-level ``screen`` event, then 3 to 8 ``general`` events
(event logs: ``message_type`` Information, Debug or Error), and one request in ten an
``error`` event, all with the request's key. Messages are ~100-byte sentences of common
words with a request number; exactly ``--needles`` events of the store, spread over all
the weeks, carry the rare word ``zqxneedle`` (a selective search has as many matches at
100,000 events as at 10 million). ``generate.json`` in the data directory records what
bench/scale.py needs: request keys, the needle, the weeks.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ACTIONS, MODULES, WORDS

from logcycle import cycles
from logcycle.clock import SystemClock
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch, IndexSearch, Reindex
from logcycle.store.sqlite import SQLiteStore

UTC = ZoneInfo("UTC")
NEEDLE = "zqxneedle"
TYPES = ("Information", "Debug", "Error")
SCREENS = ("Home", "Checkout", "Cart", "Orders", "Profile", "Search")


class Requests:
    """Synthetic requests, event after event; the pool of sentences is made once."""

    def __init__(self, seed: int, needles: set[int]) -> None:
        self.rng = random.Random(seed)
        self.sentences = [" ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(8, 14)))
                          for _ in range(4096)]
        self.needles = needles  # numbers of general messages that get the needle
        self.n = 0  # events made
        self.r = 0  # requests made
        self.g = 0  # general messages made

    def request(self, instant: int) -> list[dict[str, Any]]:
        rng = self.rng
        self.r += 1
        key = f"{rng.getrandbits(64):016x}-{self.r}"
        module = rng.choice(MODULES)
        out: list[dict[str, Any]] = [{
            "kind": "screen", "instant": instant, "duration_ms": rng.randint(5, 900),
            "screen": rng.choice(SCREENS), "request_key": key, "module_name": module,
            "user_id": f"u{rng.randrange(50_000)}"}]
        for i in range(rng.randint(3, 8)):
            out.append({"kind": "general", "instant": instant + i, "request_key": key,
                        "message": self.general(), "message_type": rng.choice(TYPES),
                        "module_name": module, "action_name": rng.choice(ACTIONS)})
        if rng.random() < 0.1:
            out.append({"kind": "error", "instant": instant + 9, "request_key": key,
                        "module_name": module, "message": "payment refused " + self.sentence(),
                        "detail": "Traceback (most recent call last): ..."})
        self.n += len(out)
        return out

    def sentence(self) -> str:
        return f"{self.rng.choice(self.sentences)} request {self.r}"

    def general(self) -> str:
        self.g += 1
        return self.sentence() + (f" {NEEDLE}" if self.g in self.needles else "")


def checkpoint(store: SQLiteStore, *, truncate: bool = False) -> None:
    store.checkpoint(truncate=truncate)


def catch_up(store: SQLiteStore, now: int) -> tuple[float, float]:
    """Build the indexes behind the writer until they are complete: (s reindex, s search)."""
    t = time.perf_counter()
    store.apply([Reindex()], now)
    reindex = time.perf_counter() - t
    t = time.perf_counter()
    while store.apply([IndexSearch(200_000)], now)[0]:
        checkpoint(store)
    return reindex, time.perf_counter() - t


def generate(data: Path, events: int, weeks: int, group: int, needles: int,
             seed: int) -> dict[str, Any]:
    data.mkdir(parents=True, exist_ok=True)
    db = data / "logcycle.db"
    if db.exists():
        raise SystemExit(f"{db} exists: give an empty --data directory")
    now = SystemClock().now_ms()
    last_week = cycles.week_of(now, UTC)
    first_week = last_week - weeks + 1
    store = SQLiteStore(f"sqlite:///{db}", tz=UTC, retention_weeks=cycles.MAX_RETENTION)
    store.open(cycles.week_start_ms(first_week, UTC) + 1)
    decoder = BatchDecoder(max_future_ms=10**12, max_batch=10**9)
    rng = random.Random(seed)
    # About 83% of the events are general ones: pick needles among the first 75%.
    gen = Requests(seed, set(rng.sample(range(1, int(events * 0.75)), min(needles, events))))
    per_week = events // weeks
    meta: dict[str, Any] = {"events": 0, "weeks": {}, "needle": NEEDLE, "needles": needles}
    timing = {"write": 0.0, "reindex": 0.0, "search_index": 0.0}
    for w in range(first_week, last_week + 1):
        begin = cycles.week_start_ms(w, UTC) + 1
        end = min(cycles.week_start_ms(w + 1, UTC) - 1, now)
        target = per_week if w < last_week else events - gen.n
        written, keys = 0, []
        while written < target:
            t = begin + (end - begin) * written // max(1, target)
            batch: list[dict[str, Any]] = []
            while len(batch) < group and written + len(batch) < target:
                batch.extend(gen.request(t))
            keys.append(batch[0]["request_key"])
            started = time.perf_counter()
            prepared = decoder.decode_json(orjson.dumps(batch), now_ms=t).events
            (ids,) = store.apply([EventBatch(prepared, None, "generate", scope=ALL)], t)
            if isinstance(ids, Exception):
                raise ids
            timing["write"] += time.perf_counter() - started
            written += len(batch)
            checkpoint(store)
        reindex, search = catch_up(store, end)
        timing["reindex"] += reindex
        timing["search_index"] += search
        checkpoint(store, truncate=True)
        meta["weeks"][str(w)] = {"events": written, "request_keys": keys[:: max(1, len(keys)
                                                                               // 20)]}
        meta["events"] += written
        print(f"week {w} (cycle {w % 10}): {written:,} events; so far write "
              f"{timing['write']:.0f} s, reindex {timing['reindex']:.0f} s, search index "
              f"{timing['search_index']:.0f} s", flush=True)
    store.close()
    meta["seconds"] = timing
    meta["bytes"] = sum(p.stat().st_size for p in data.glob("logcycle.db*"))
    (data / "generate.json").write_text(json.dumps(meta, indent=1))
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--data", type=Path, required=True, help="an empty data directory")
    ap.add_argument("--weeks", type=int, default=10, help="1 to 10")
    ap.add_argument("--group", type=int, default=50_000, help="events per transaction")
    ap.add_argument("--needles", type=int, default=100,
                    help="events that carry the rare word (whatever the size)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not 1 <= args.weeks <= 10:
        ap.error("--weeks must be 1 to 10 (retention keeps at most ten weeks)")
    started = time.perf_counter()
    meta = generate(args.data, args.events, args.weeks, args.group, args.needles, args.seed)
    took = time.perf_counter() - started
    s = meta["seconds"]
    print(f"\n{meta['events']:,} events over {args.weeks} weeks in {took:.0f} s "
          f"({meta['events'] / took:,.0f} events/s): write {s['write']:.0f} s, request-key "
          f"index {s['reindex']:.0f} s, search index {s['search_index']:.0f} s; "
          f"{meta['bytes'] / 1e9:.2f} GB ({meta['bytes'] / meta['events']:.0f} bytes/event)")


if __name__ == "__main__":
    main()
