"""The cost of alerting beside its budget, in the same run.

    .venv/bin/python bench/alerts.py [--events 1000000] [--rules 100] [--cycles 5]

Seeds a store with N realistic events over the last 7 days (bench/demo.py: requests with
screens, integrations, errors with stack traces, device logs), adds R rules (counts over
5-minute windows with field terms and message words, p95 of durations, new and regressed
error groups), then runs the scheduler in this process: each cycle moves the clock 30 s,
adds a few hundred new events, and evaluates every rule once. Prints the CPU seconds one
cycle takes (this process: the scheduler and SQLite, which runs in it) as a share of one
core over the 30 s between cycles, beside the budget: 5% of one core; then the notifier's
cost with nothing to send (it reads the outbox every 2 s).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import MODULES, events_at, seed

from logcycle.alerts import registry
from logcycle.alerts.delivery import POLL_S, Notifier
from logcycle.alerts.rules import parse_rule
from logcycle.alerts.scheduler import Scheduler
from logcycle.clock import ManualClock
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import EventBatch, Reindex
from logcycle.keys import Scope
from logcycle.settings import Settings
from logcycle.store.factory import make_store

NOW = 1_795_400_000_000
EVERY_S = 30
BUDGET = 0.05
IDLE_S = 10


def rules(n: int) -> list[dict[str, Any]]:
    """A mix of what teams alert on."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        module = MODULES[i % len(MODULES)]
        shape = i % 5
        if shape == 0:
            rule = {"query": f"kind:error module_name:{module}",
                    "condition": {"type": "count", "above": 50, "window_s": 300}}
        elif shape == 1:
            rule = {"query": f"kind:screen module_name:{module} duration_ms:>800",
                    "condition": {"type": "count", "above": 20, "window_s": 300}}
        elif shape == 2:
            rule = {"query": f"kind:general {random.Random(i).choice(['timeout', 'retry'])}",
                    "condition": {"type": "count", "above": 100, "window_s": 600}}
        elif shape == 3:
            rule = {"query": f"kind:screen module_name:{module}",
                    "condition": {"type": "stat", "metric": "p95(duration_ms)", "above": 900,
                                  "window_s": 300}}
        else:
            kind = "new_error_group" if i % 2 else "regressed_error_group"
            rule = {"condition": {"type": kind}}
        out.append({"name": f"rule {i}", "every_s": EVERY_S, **rule})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t = time.perf_counter()
        seed(data, events=args.events, span_ms=7 * 86_400_000, now_ms=NOW)
        print(f"seeded {args.events:,} events in {time.perf_counter() - t:.0f} s", flush=True)
        store = make_store(Settings(data=data))
        store.open(NOW)
        for r in rules(args.rules):
            registry.add(store, parse_rule(orjson.dumps(r)), NOW)
        clock = ManualClock(NOW)
        sched = Scheduler(store, clock, Notifier(store, on_result=lambda i, r: None,
                                                        now_ms=clock.now_ms),
                          tz=Settings().tz, public_url="http://127.0.0.1:5380")
        decoder = BatchDecoder(max_future_ms=86_400_000, max_batch=100_000)
        rng = random.Random(7)
        sched.tick()  # the first run sets the error-group marks
        cpu: list[float] = []
        for _ in range(args.cycles):
            clock.advance(EVERY_S * 1000)
            new = events_at(rng, clock.now_ms(), 500)
            store.apply([EventBatch(decoder.decode_json(orjson.dumps(new),
                                                        now_ms=clock.now_ms()).events,
                                    None, "bench", scope=Scope())], clock.now_ms())
            store.apply([Reindex()], clock.now_ms())
            c0, w0 = time.process_time(), time.perf_counter()
            ran = sched.tick()
            cpu.append(time.process_time() - c0)
            print(f"cycle: {ran} rules in {time.perf_counter() - w0:.3f} s wall, "
                  f"{cpu[-1]:.3f} s CPU", flush=True)
        # The notifier with nothing to send: it looks at the outbox every POLL_S.
        sched.notifier.start()
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(IDLE_S)
        idle = (time.process_time() - c0) / (time.perf_counter() - w0)
        sched.notifier.stop()
        store.close()
    best, median = min(cpu), sorted(cpu)[len(cpu) // 2]
    print(f"\nAlerts: {args.rules} rules every {EVERY_S} s over a store of {args.events:,} "
          "events (SQLite, one process)")
    print(f"| {'what':<46} | {'share of one core':>17} |")
    print(f"|{'-' * 48}|{'-' * 19}|")
    print(f"| {'budget':<46} | {BUDGET:>17.1%} |")
    print(f"| {'logcycle, median cycle (best)':<46} | "
          f"{median / EVERY_S:>8.2%} ({best / EVERY_S:.2%}) |")
    print(f"| {f'notifier, idle ({IDLE_S} s, outbox read every {POLL_S:g} s)':<46} | "
          f"{idle:>17.3%} |")


if __name__ == "__main__":
    main()
