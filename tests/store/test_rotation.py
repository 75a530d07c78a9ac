"""Weekly rotation and retention on a real SQLite file, driven by the injected clock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS, ms_of
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0, error_event


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """These tests read the SQLite file itself; tests/store/test_contract.py runs rotation
    and retention on both stores."""
    return f"sqlite:///{(tmp_path / 'data' / 'logcycle.db').as_posix()}"


def sql(path: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def messages(path: Path, view: str) -> list[str]:
    return [str(r[0]) for r in sql(path, f"SELECT message FROM {view} ORDER BY id")]


def test_tables_and_views_exist(client: TestClient, service: Service) -> None:
    path = service.store.path  # type: ignore[attr-defined]
    names = {r[0] for r in sql(path, "SELECT name FROM sqlite_master")}
    for kind in ("screen", "integration", "mobile_request", "cyclic_job", "error", "general",
                 "extension", "request_event"):
        assert {f"oslog_{kind}_{c}" for c in range(10)} <= names
        assert {f"oslog_{kind}", f"oslog_{kind}_previous"} <= names
    view_sql = sql(path, "SELECT sql FROM sqlite_master WHERE name = 'oslog_error'")[0][0]
    assert "oslog_error_3" in str(view_sql)  # 2026-11-23 is in cycle 3


def test_rotation_moves_views_and_writes(client: TestClient, service: Service,
                                         clock: ManualClock) -> None:
    path = service.store.path  # type: ignore[attr-defined]
    client.post("/api/v1/events", json=[error_event(1)])
    assert messages(path, "oslog_error") == ["boom 1"]
    clock.set(ms_of("2026-11-27T23:45:00+00:00"))  # the turn to cycle 4
    client.post("/api/v1/events", json=[error_event(2, instant=clock.now_ms())])
    assert messages(path, "oslog_error") == ["boom 2"]
    assert messages(path, "oslog_error_previous") == ["boom 1"]
    assert messages(path, "oslog_error_4") == ["boom 2"]


def test_retention_empties_old_weeks_and_reused_tables(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    svc = Service(Settings(data=tmp_path, retention_weeks=2), clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        for week in range(4):
            c.post("/api/v1/events", json=[error_event(week, instant=clock.now_ms())])
            clock.advance(WEEK_MS)
        clock.advance(-WEEK_MS)
        names = [e["message"] for e in c.get("/api/v1/events").json()["events"]]
        assert names == ["boom 3", "boom 2", "boom 1"]  # week 0 is older than 2 weeks
        path = svc.store.path  # type: ignore[attr-defined]
        assert sql(path, "SELECT count(*) FROM oslog_error_3") == [(0,)]


def test_catch_up_after_being_down_for_weeks(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    settings = Settings(data=tmp_path)
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        c.post("/api/v1/events", json=[error_event(1)])
    clock.advance(10 * WEEK_MS)  # down for ten turns: cycle 3 comes round again
    svc2 = Service(settings, clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(svc2), headers={"Authorization": ADMIN}) as c:
        assert c.get("/api/v1/events").json()["events"] == []
        path = svc2.store.path  # type: ignore[attr-defined]
        assert sql(path, "SELECT count(*) FROM oslog_error_3") == [(0,)]
        held = c.get("/api/v1/status").json()["held"]
        assert held["3"] == 1413


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logcycle", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_maintain_command(client: TestClient, service: Service, settings: Settings) -> None:
    client.post("/api/v1/events", json=[error_event(1)])
    path = service.store.path  # type: ignore[attr-defined]
    r = run_cli("maintain", "--data", str(settings.data), "--now", "2026-11-28T00:00:00Z")
    assert r.returncode == 0, r.stderr
    assert "current cycle 4" in r.stdout
    assert messages(path, "oslog_error_previous") == ["boom 1"]
    assert messages(path, "oslog_error") == []
    r = run_cli("maintain", "--data", str(settings.data), "--now", "2026-11-01T00:00:00Z")
    assert r.returncode == 1 and "--force" in r.stderr
    r = run_cli("maintain", "--data", str(settings.data), "--now", "not a time")
    assert r.returncode == 1 and "--now" in r.stderr
