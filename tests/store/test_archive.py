"""The archive (--archive-dir): each complete week exported once, across restarts, and
never the current week."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, error_event


def started(settings: Settings, clock: ManualClock) -> tuple[Service, TestClient]:
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    client = TestClient(create_app(svc), headers={"Authorization": ADMIN})
    client.__enter__()
    return svc, client


def test_each_complete_week_is_archived_once_across_restarts(settings: Settings,
                                                            clock: ManualClock,
                                                            tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    settings = settings.replace(archive_dir=str(archive))
    svc, client = started(settings, clock)
    assert svc.archiver is not None
    client.post("/api/v1/events", json=[error_event(i) for i in range(3)])
    assert svc.archiver.run_once() == []  # the current week is not complete
    clock.advance(WEEK_MS)
    client.post("/api/v1/events", json=[error_event(9)])  # the next week: rotates first
    written = svc.archiver.run_once()
    assert [(n, r) for n, r in written if r] == [("error/error-week1403-2026-11-20.parquet", 3)]
    path = archive / "error" / "error-week1403-2026-11-20.parquet"
    stamp = path.stat().st_mtime_ns
    assert pq.read_table(path).column("message").to_pylist() == ["boom 0", "boom 1", "boom 2"]
    client.__exit__(None, None, None)

    svc, client = started(settings, clock)  # a restart: nothing is written again
    assert svc.archiver is not None and svc.archiver.run_once() == []
    assert path.stat().st_mtime_ns == stamp
    manifest = json.loads((archive / "manifest.json").read_text())["files"]
    assert manifest[str(path.relative_to(archive))]["rows"] == 3
    assert sum(1 for f in manifest.values() if f["week"] == 1403) == 8  # every kind, once
    assert not any(f["week"] == 1404 for f in manifest.values())
    client.__exit__(None, None, None)


def test_weeks_emptied_by_the_catch_up_after_a_long_downtime_are_archived_first(
        settings: Settings, clock: ManualClock, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    settings = settings.replace(archive_dir=str(archive), retention_weeks=2)
    svc, client = started(settings, clock)
    for w in range(3):  # three weeks of errors; the last is current when the server stops
        assert client.post("/api/v1/events", json=[
            error_event(i, message=f"week {w} #{i}") for i in range(w + 1)]).status_code == 200
        clock.advance(WEEK_MS)
    clock.advance(-WEEK_MS)
    client.__exit__(None, None, None)
    clock.advance(5 * WEEK_MS)  # down for longer than the retention: all three are emptied

    svc, client = started(settings, clock)
    assert all(w is None or w > 1405 for w in svc.store.held().values())  # emptied
    files = json.loads((archive / "manifest.json").read_text())["files"]
    rows = {f["week"]: f["rows"] for f in files.values() if f["kind"] == "error"}
    assert rows == {1403: 1, 1404: 2, 1405: 3}, rows
    path = archive / "error" / "error-week1405-2026-12-04.parquet"
    assert pq.read_table(path).column("message").to_pylist() == [
        "week 2 #0", "week 2 #1", "week 2 #2"]
    client.__exit__(None, None, None)
