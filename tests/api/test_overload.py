"""Overload is answered with 503 + Retry-After, never an unbounded queue."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.ingest.tasks import WriteTask
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store.factory import make_store
from tests.conftest import ADMIN, T0, error_event


class GatedStore:
    """The real SQLite store whose commits wait for a gate: a slow disk, on demand."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()

    def apply(self, tasks: Sequence[WriteTask], now_ms: int) -> list[Any]:
        self.gate.wait(30)
        return list(self.inner.apply(tasks, now_ms))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_full_queue_answers_503_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path, max_pending_events=100)
    store = GatedStore(make_store(settings))
    svc = Service(settings, clock=ManualClock(T0), store=store,  # type: ignore[arg-type]
                  bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        store.gate.clear()
        results: list[Any] = []

        def send() -> None:
            results.append(c.post("/api/v1/events", json=[error_event(i) for i in range(60)]))

        first = threading.Thread(target=send)
        first.start()
        while svc.writer.pending == 0:
            pass
        r = c.post("/api/v1/events", json=[error_event(i) for i in range(60)])
        assert r.status_code == 503
        assert 1 <= int(r.headers["Retry-After"]) <= 30
        assert "retry" in r.json()["error"]["message"]
        store.gate.set()
        first.join()
        assert results[0].status_code == 200
        listed = c.get("/api/v1/events", params={"limit": 1000}).json()["events"]
        assert sorted(e["id"] for e in listed) == sorted(results[0].json()["ids"])


def test_retry_after_follows_the_drain_time(service: Service) -> None:
    w = service.writer
    assert w.retry_after() == 1  # no rate measured yet
    w._rate, w._pending = 2_000.0, 50_000  # 25 s to drain at the recent rate
    try:
        assert w.retry_after() == 25
        w._pending = 10**9
        assert w.retry_after() == 30
    finally:
        w._pending = 0
