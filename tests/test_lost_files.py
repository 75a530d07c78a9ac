"""Deleting the database files under a running server (issue 16): no write is
acknowledged after the deletion, /health turns 503 with the reason, the log says so."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0, ServerProcess, error_event

pytestmark = pytest.mark.slow
H = {"Authorization": ADMIN}


def _post_until(url: str, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    """POST batches back to back; (time sent, status) of each."""
    with httpx.Client(timeout=10) as c:
        i = 0
        while not stop.is_set() and i < 5_000:
            sent = time.monotonic()
            r = c.post(url + "/api/v1/events", json=[error_event(i + j) for j in range(5)],
                       headers=H)
            out.append((sent, r.status_code))
            i += 5


@pytest.mark.parametrize("names", [("logcycle.db",), ("logcycle.db", "logcycle.db-wal",
                                                       "logcycle.db-shm")])
def test_no_write_is_acknowledged_after_the_files_are_deleted(
        tmp_path: Path, server_factory: Any, names: tuple[str, ...]) -> None:
    s: ServerProcess = server_factory().start()
    assert s.proc is not None and s.proc.stdout is not None
    log: list[bytes] = []  # read as it comes: a full pipe would block the server's logging
    drain = threading.Thread(target=lambda: log.extend(iter(s.proc.stdout.readline, b"")))
    drain.start()
    data = tmp_path / "data"
    stop = threading.Event()
    results: list[tuple[float, int]] = []
    t = threading.Thread(target=_post_until, args=(s.url, stop, results))
    t.start()
    time.sleep(0.5)
    for name in names:
        (data / name).unlink(missing_ok=True)
    deleted = time.monotonic()
    time.sleep(1.0)
    stop.set()
    t.join()
    before = [st for sent, st in results if sent < deleted]
    after = [st for sent, st in results if sent > deleted]
    assert before and 200 in before and after
    assert 200 not in after, after[:20]
    assert set(after) == {503}
    r = httpx.post(s.url + "/api/v1/events", json=[error_event()], headers=H)
    assert r.status_code == 503 and "deleted" in r.json()["error"]["message"]
    health = httpx.get(s.url + "/health")
    assert health.status_code == 503, health.text
    assert "logcycle.db" in health.json()["problems"][0]
    s.stop()
    drain.join()
    assert b"STORE FILES LOST" in b"".join(log)


def _chattr(flag: str, path: Path) -> None:
    r = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        pytest.skip(f"chattr {flag} is not possible here: {r.stderr.strip()}")


def test_failing_checkpoints_show_in_health_and_status(tmp_path: Path) -> None:
    """The database file made unwritable under a running server (chattr +i: what a
    read-only file system or directory does to the connections it opens from then on):
    writes still go to the WAL, checkpoints fail, and /health and /api/v1/status say so;
    when the file is writable again the problem clears by itself."""
    if os.geteuid() != 0:
        pytest.skip("chattr +i needs root")
    svc = Service(Settings(data=tmp_path / "data"), clock=ManualClock(T0), bootstrap_key=ADMIN)
    svc.open()  # the writer's connection is open before the file turns unwritable
    db = tmp_path / "data" / "logcycle.db"
    _chattr("+i", db)
    try:
        with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
            assert c.post("/api/v1/events", json=[error_event()]).status_code == 200
            deadline = time.monotonic() + 10
            while c.get("/health").json()["status"] == "ok":
                assert time.monotonic() < deadline, "no checkpoint failed"
                time.sleep(0.1)
            health = c.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert "checkpoints fail" in health.json()["problems"][0]
            status = c.get("/api/v1/status").json()
            assert any("checkpoints fail" in p for p in status["problems"])
            _chattr("-i", db)
            deadline = time.monotonic() + 10
            while c.get("/health").json()["status"] != "ok":
                assert time.monotonic() < deadline, "the problem did not clear"
                time.sleep(0.1)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)
