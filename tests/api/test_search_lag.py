"""How far the message search index trails ingest: reported by the store and by
``GET /api/v1/status``, and what ``--search-index-lag`` does about it (docs/settings.md):
``scan`` (default) keeps taking batches, ``slow-ingest`` answers 503 + Retry-After while
the index trails by more than ``--search-index-max-lag-s``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import EventBatch, IndexSearch
from logcycle.keys import Scope
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store.base import Store
from logcycle.store.factory import make_store
from logcycle.store.sqlite import SQLiteStore
from logcycle.store.sqlite_indexer import SearchIndexer
from tests.conftest import ADMIN, T0


def write(store: Store, kind: str, n: int, now: int) -> None:
    extra = {"module_name": "shop"} if kind == "error" else {}
    body = orjson.dumps([{"kind": kind, "instant": now, "message": f"m {i}", **extra}
                         for i in range(n)])
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10_000).decode_json(body, now_ms=now)
    store.apply([EventBatch(batch.events, None, "t", scope=Scope())], now)


@pytest.fixture
def bare_store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    store = make_store(Settings(data=tmp_path / "data", store=store_url))
    store.open(T0)
    yield store
    store.close()


def test_the_store_reports_rows_and_seconds_not_indexed(bare_store: Store) -> None:
    write(bare_store, "general", 20, T0)  # ids 1-20
    write(bare_store, "general", 30, T0 + 2000)  # 21-50
    write(bare_store, "error", 10, T0 + 5000)  # 51-60
    assert bare_store.search_index_lag() == (60, 5.0)
    # Error messages are indexed too (every kind with a message), before general ones.
    assert bare_store.apply([IndexSearch(20)], T0) == [20]  # errors, general 1-10
    assert bare_store.search_index_lag() == (40, 5.0)
    assert bare_store.apply([IndexSearch(20)], T0) == [20]  # general 11-30
    assert bare_store.search_index_lag() == (20, 3.0)  # 31-50, 3 s before the newest row
    if isinstance(bare_store, SQLiteStore):  # the indexer's own measure: seeks, no count
        assert bare_store.indexer.lag_s == 3.0
    assert bare_store.apply([IndexSearch(1000)], T0) == [20]
    assert bare_store.search_index_lag() == (0, 0.0)


def test_status_shows_the_lag(client: TestClient) -> None:
    r = client.post("/api/v1/events", json=[{"kind": "general", "instant": T0,
                                             "message": "hello"}])
    assert r.status_code == 200
    si = client.get("/api/v1/status").json()["search_index"]
    assert set(si) == {"lag_rows", "lag_seconds", "max_lag_seconds", "behind", "when_behind"}
    assert si["lag_rows"] in (0, 1)
    assert (si["max_lag_seconds"], si["when_behind"]) == (10.0, "scan")


@pytest.fixture
def sqlite_without_indexer(tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A SQLite service whose indexer thread does not run: the test steps the index."""
    monkeypatch.setattr(SearchIndexer, "start", lambda self: None)
    made: list[Service] = []

    def make(policy: str) -> tuple[Service, TestClient, ManualClock]:
        clock = ManualClock(T0)
        svc = Service(Settings(data=tmp_path / policy, search_index_lag=policy,
                               search_index_max_lag_s=2.0), clock=clock, bootstrap_key=ADMIN)
        made.append(svc)
        return svc, TestClient(create_app(svc), headers={"Authorization": ADMIN}), clock
    yield make
    for svc in made:
        svc.close()


def post(client: TestClient, n: int) -> Any:
    return client.post("/api/v1/events", json=[{"kind": "general", "instant": T0,
                                                "message": f"m {i}"} for i in range(n)])


@pytest.mark.parametrize("policy", ["scan", "slow-ingest"])
def test_an_index_behind_is_reported_and_slows_ingest_only_when_asked(
        sqlite_without_indexer: Any, policy: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "logcycle.store")
    svc, client, clock = sqlite_without_indexer(policy)
    with client:
        assert post(client, 100).status_code == 200
        clock.advance(5000)
        assert post(client, 100).status_code == 200
        assert svc.store.apply([IndexSearch(50)], clock.now_ms()) == [50]  # 5 s behind
        assert "trails ingest by 5.0 s" in caplog.text
        si = client.get("/api/v1/status").json()["search_index"]
        assert (si["lag_rows"], si["lag_seconds"], si["behind"]) == (150, 5.0, True)
        r = post(client, 1)
        if policy == "scan":
            assert r.status_code == 200
        else:
            assert r.status_code == 503
            assert int(r.headers["Retry-After"]) >= 1
            assert "search index trails ingest" in r.json()["error"]["message"]
        # Searches stay exact meanwhile (the tail is scanned).
        found = client.get("/api/system/event-log/search",
                           params={"message": "m 7"})
        assert found.status_code == 200
        svc.store.apply([IndexSearch(10_000)], clock.now_ms())  # caught up
        assert "caught up" in caplog.text
        assert post(client, 1).status_code == 200
        assert client.get("/api/v1/status").json()["search_index"]["behind"] is False


def test_the_documented_status_shape_is_the_real_one(client: TestClient) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "eventlog.md").read_text()
    line = next(s for s in doc.splitlines() if s.startswith('"search_index": {'))
    documented = orjson.loads(line.split(": ", 1)[1])
    real = client.get("/api/v1/status").json()["search_index"]
    assert set(documented) == set(real)
    assert {k: type(v) for k, v in documented.items()} == \
        {k: type(v) for k, v in real.items() if k != "lag_seconds"} | {"lag_seconds": float}
