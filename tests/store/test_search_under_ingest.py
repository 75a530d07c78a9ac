"""Message search stays exact while events pour in and the index trails them: the real
writer thread and the real indexer (SQLite: its own thread and file; PostgreSQL: steps
between commits) run while searches read, across a rotation and retention, on both stores.

Every search must return every event acknowledged before it started, nothing that does
not match, nothing that was never written and nothing that retention removed."""

from __future__ import annotations

import dataclasses
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logcycle.clock import ManualClock
from logcycle.cycles import CYCLES, WEEK_MS, week_of
from logcycle.errors import StoreUnavailable
from logcycle.ingest.tasks import EventBatch
from logcycle.keys import Scope
from logcycle.query.wildcards import wildcard_pattern
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store import sqlite_counts, sqlite_indexer
from logcycle.store.search import MessageQuery
from tests import pg
from tests.conftest import T0

WORDS = ["disk", "full", "DISK", "timeout", "retry", "ndl7f3a", "ndl7f3b", "50%", "a_b",
         "érreur", "zz"]
T = TypeVar("T")
PATTERNS = ["disk", "DISK full", "timeout*retry", "ndl7f3a", "ndl7f3", "50%", "a_b", "zz",
            "érreur", "no such thing", "isk"]


@contextmanager
def running_service(engine: str) -> Iterator[tuple[Service, ManualClock]]:
    with tempfile.TemporaryDirectory() as tmp, \
            (pg.fresh_schema() if engine == "postgresql" else _none()) as url:
        clock = ManualClock(T0)
        s = Settings(data=Path(tmp), store=url or "", retention_weeks=1)
        svc = Service(s, clock=clock, bootstrap_key="k")
        svc.start()
        try:
            yield svc, clock
        finally:
            svc.close()


@contextmanager
def _none() -> Iterator[str]:
    yield ""


def matches(pattern: str, message: str) -> bool:
    """What LIKE does: `*` any run, case folded for ASCII letters only."""
    p = pattern if "*" in pattern else f"*{pattern}*"
    rx = ".*".join(re.escape(part) for part in p.split("*"))
    return re.fullmatch(rx, message, re.IGNORECASE | re.ASCII | re.DOTALL) is not None


def batch(svc: Service, kind: str, messages: list[str], now: int) -> EventBatch:
    extra = {"module_name": "shop"} if kind == "error" else {}
    body = orjson.dumps([{"kind": kind, "instant": now, "message": m, **extra}
                         for m in messages])
    return EventBatch(svc.decoder.decode_json(body, now_ms=now).events, None, "test",
                      scope=Scope())


class Ingest(threading.Thread):
    """Writes the batches through the writer, turning the week where asked; records
    what was acknowledged (id → kind, message, week)."""

    def __init__(self, svc: Service, clock: ManualClock, plan: list[list[str] | None]) -> None:
        super().__init__(daemon=True)
        self.svc, self.clock, self.plan = svc, clock, plan
        self.acked: dict[int, tuple[str, str, int]] = {}
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for n, step in enumerate(self.plan):
                if step is None:
                    self.clock.advance(WEEK_MS)
                    continue
                kind = ("general", "error")[n % 2]
                step = [*step, f"rare{n:04d} needle"]  # a selective search's target
                now = self.clock.now_ms()
                task = batch(self.svc, kind, step, now)
                ids = retried(lambda t=task: self.svc.writer.submit_wait(t))  # type: ignore[misc]
                time.sleep(0.05)  # a stream, not one burst: searches run in between
                with self.lock:
                    for i, m in zip(ids, step, strict=True):
                        self.acked[i] = (kind, m, week_of(now, self.svc.settings.tz))
        except BaseException as exc:  # reported by the test
            self.error = exc


def retried(fn: Callable[[], T]) -> T:
    """What a client does with a 503: retry. (On PostgreSQL a search that reads a table
    while a rotation truncates the next one can deadlock; PostgreSQL fails one of them.)"""
    for _ in range(20):
        try:
            return fn()
        except StoreUnavailable:
            time.sleep(0.05)
    return fn()


def check(svc: Service, ingest: Ingest, pattern: str, kind: str) -> None:
    with ingest.lock:
        before = dict(ingest.acked)
    held = svc.store.held()
    live_weeks = {w for w in held.values() if w is not None}
    weeks = sorted(live_weeks, reverse=True)
    q = MessageQuery(kind=kind, cycles=tuple(w % CYCLES for w in weeks),
                     columns=("id", "message"), pattern=wildcard_pattern(pattern),
                     limit=100_000, count=True)
    # A page of one with its total: a broad total is counted apart from the page (SQLite:
    # from the message blocks, store/sqlite_counts.py), and asked before the full read.
    counted = retried(lambda: svc.store.search_messages(dataclasses.replace(q, limit=1)))
    result = retried(lambda: svc.store.search_messages(q))
    if svc.store.held() != held:
        return  # the week turned meanwhile: the cycles asked for are not those weeks
    got = [r[0] for r in result.rows]
    assert got == sorted(got, reverse=True)
    assert result.total == len(got)
    # Nothing is removed while the weeks held stay the same: what the total counted is
    # still there for the full read, which may find more (written between the two).
    assert counted.total is not None and counted.total <= len(got), (pattern, kind)
    with ingest.lock:
        after = dict(ingest.acked)
    for i, message in result.rows:
        assert matches(pattern, message), (pattern, message)
        # Written (maybe acknowledged just after the search began), never invented.
        assert i in after or i not in before, i
    newest = max(live_weeks, default=0)
    want = {i for i, (k, m, w) in before.items()
            if k == kind and matches(pattern, m) and w >= newest - svc.settings.retention_weeks
            and w in live_weeks}
    assert want <= set(got), (pattern, kind, sorted(want - set(got))[:5])
    assert len(want) <= counted.total, (pattern, kind, counted.total, len(want))
    purged = {i for i, (_, _, w) in after.items() if w not in live_weeks}
    assert not purged & set(got)


plans = st.lists(st.one_of(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
             min_size=1, max_size=400),
    st.none()), min_size=3, max_size=10)


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql",
                                                           marks=pytest.mark.postgres)])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans, seed=st.integers(0, 2**16))
def test_search_is_exact_under_concurrent_ingest(engine: str, plan: list[list[str] | None],
                                                 seed: int) -> None:
    if engine == "postgresql":
        pg.require_pg()
    # Small, spaced steps: the index trails by a few batches through the run.
    with pytest.MonkeyPatch.context() as slow:
        slow.setattr(sqlite_indexer, "STEP_EVERY_S", 0.1)
        slow.setattr(sqlite_indexer, "MAX_STEP", 300)
        slow.setattr(sqlite_counts, "BLOCK_ROWS", 64)  # many blocks, some undecided
        run_plan(engine, plan, random.Random(seed))


def run_plan(engine: str, plan: list[list[str] | None], rng: random.Random) -> None:
    big = [[" ".join(rng.choices(WORDS, k=4)) for _ in range(500)] for _ in range(8)]
    with running_service(engine) as (svc, clock):
        ingest = Ingest(svc, clock, [*big, *plan])
        ingest.start()
        rare = [f"rare{n:04d}" for n in range(len(ingest.plan))]
        while ingest.is_alive():
            check(svc, ingest, rng.choice(PATTERNS + rare), rng.choice(["general", "error"]))
        ingest.join()
        assert ingest.error is None, ingest.error
        for pattern in PATTERNS + rare[::3]:
            for kind in ("general", "error"):
                check(svc, ingest, pattern, kind)
