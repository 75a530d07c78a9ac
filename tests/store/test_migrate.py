"""`logcycle migrate`: a SQLite store copied into PostgreSQL answers the same, keeps ids,
weeks, keys, entities and records, and goes on from there."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.ingest.tasks import IndexSearch
from logcycle.keys import hash_key
from logcycle.query.wildcards import wildcard_pattern
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store.search import MessageQuery
from tests import pg
from tests.conftest import ADMIN, T0, error_event

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg.fresh_schema() as url:
        yield url


def everything(c: TestClient) -> dict[str, Any]:
    """What a reader sees: every event page, a request, the records, the entities."""
    pages, after = [], None
    while True:
        body = c.get("/api/v1/events", params={"limit": 3, **({"after": after} if after
                                                                else {})}).json()
        pages.append(body["events"])
        after = body["next"]
        if not after:
            break
    return {"pages": pages, "request": c.get("/api/v1/requests/r1").json(),
            "records": c.get("/api/v1/records/orders").json(),
            "entities": c.get("/api/v1/entities").json(),
            "errors": c.get("/api/v1/errors").json(), "alerts": c.get("/api/v1/alerts").json()}


def found(svc: Service, text: str) -> list[int]:
    q = MessageQuery(kind="general", cycles=(3, 4), columns=("id",), limit=100,
                     pattern=wildcard_pattern(text))
    return [r[0] for r in svc.store.search_messages(q).rows]


def migrate(data: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logcycle", "migrate", "--from",
                           f"sqlite:///{data / 'logcycle.db'}", "--to", url, *extra],
                          capture_output=True, text=True, timeout=120, check=False)


def test_migrate_copies_a_store_cycle_by_cycle(tmp_path: Path, pg_url: str) -> None:
    data = tmp_path / "data"
    clock = ManualClock(T0)
    sqlite_svc = Service(Settings(data=data), clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(sqlite_svc), headers={"Authorization": ADMIN}) as c:
        c.post("/api/v1/events", json=[error_event(i, request_key="r1") for i in range(5)])
        clock.advance(WEEK_MS)  # a second week, in another cycle
        c.post("/api/v1/events", json=[
            {"kind": "integration", "instant": clock.now_ms(), "duration_ms": 5.5,
             "is_expose": True, "endpoint": "/pay", "request_key": "r1",
             "error": {"message": "refused", "module_name": "pay"}},
            {"kind": "general", "instant": clock.now_ms(), "message": "nul \u0000 here",
             "msg": {"a": [1]}, "src": "app", "stream": "console"}])
        c.put("/api/v1/entities/orders", json={"columns": {"amount": "real", "ok": "boolean"}})
        c.post("/api/v1/records/orders", json=[{"amount": 2.5, "ok": True}, {"amount": 1}])
        fp = c.get("/api/v1/errors").json()["groups"][-1]["fingerprint"]
        assert c.patch(f"/api/v1/errors/{fp}", json={"status": "resolved"}).status_code == 200
        assert c.post("/api/v1/alerts", json={"name": "a", "condition": {
            "type": "new_error_group"}}).status_code == 200
        key = "lc_reader-key"
        sqlite_svc.store.add_key(hash_key(sqlite_svc.secret, key), "read", "reader", None, 1)
        before = everything(c)
        held = c.get("/api/v1/status").json()["held"]

    r = migrate(data, pg_url)
    assert r.returncode == 0, r.stderr
    assert "copied 10 rows of 2 weeks" in r.stdout

    pg_svc = Service(Settings(data=data, store=pg_url), clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(pg_svc), headers={"Authorization": ADMIN}) as c:
        after = everything(c)
        nul = [e for p in after["pages"] for e in p if e["kind"] == "general"]
        assert nul[0]["message"] == "nul \ufffd here"  # NUL is stored so on both stores
        assert after == before
        assert c.get("/api/v1/status").json()["held"] == held
        assert c.get("/api/v1/events", headers={"Authorization": key}).status_code == 200
        last = max(e["id"] for p in before["pages"] for e in p)
        assert c.post("/api/v1/events", json=[error_event(9)]).json()["ids"] == [last + 1]
        assert c.post("/api/v1/records/orders", json=[{"amount": 3}]).json()["ids"] == [3]
        c.post("/api/v1/events", json=[{"kind": "general", "instant": clock.now_ms(),
                                        "message": "written here after"}])
        pg_svc.store.apply([IndexSearch(1000)], clock.now_ms())
        assert len(found(pg_svc, "here")) == 2

    r = migrate(data, pg_url)
    assert r.returncode == 1 and "--replace" in r.stderr
    r = migrate(data, pg_url, "--replace")
    assert r.returncode == 0, r.stderr
    pg_svc = Service(Settings(data=data, store=pg_url), clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(pg_svc), headers={"Authorization": ADMIN}) as c:
        assert len(everything(c)["pages"][0]) == 3
        assert c.post("/api/v1/events", json=[error_event(9)]).json()["ids"] == [last + 3]
        pg_svc.store.apply([IndexSearch(1000)], clock.now_ms())
        assert found(pg_svc, "here") == [nul[0]["id"]]  # nothing left of the replaced store


def test_migrate_refuses_what_it_cannot_read(tmp_path: Path, pg_url: str) -> None:
    r = migrate(tmp_path / "nowhere", pg_url)
    assert r.returncode == 1 and "no SQLite store at" in r.stderr
