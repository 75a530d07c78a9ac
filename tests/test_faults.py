"""Faults of the disk: a full filesystem is a 507 that stores nothing, and the server
recovers by itself when space returns (on a real small tmpfs: needs root to mount); other
I/O errors are a 503, and pass with the fault."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from logcycle.client import Logger
from tests.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path: Path, leave_bytes: int) -> None:
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with path.open("wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))


def batch(n: int, start: int) -> list[dict[str, Any]]:
    return [{"kind": "error", "instant": 1_700_000_000_000, "module_name": "disk",
             "message": f"event {start + i} " + "x" * 400} for i in range(n)]


def test_full_disk_stores_nothing_unacknowledged_and_recovers(small_disk: Path,
                                                              server_factory: Any) -> None:
    s: ServerProcess = server_factory(data=small_disk / "data").start()
    filler = small_disk / "filler"
    fill(filler, 600_000)
    acked: list[int] = []
    statuses: list[int] = []
    with httpx.Client(headers={"Authorization": ADMIN}, timeout=30) as c:
        for i in range(200):
            r = c.post(s.url + "/api/v1/events", json=batch(100, i * 100))
            statuses.append(r.status_code)
            if r.status_code == 200:
                acked.extend(r.json()["ids"])
            elif r.status_code == 507:
                assert "disk is full" in r.json()["error"]["message"]
                break
        assert 507 in statuses, statuses[-5:]
        assert c.get(s.url + "/health").status_code == 200  # still up, still answering
        filler.unlink()
        r = c.post(s.url + "/api/v1/events", json=batch(10, 99_000))
        assert r.status_code == 200, r.text
        acked.extend(r.json()["ids"])
        stored: set[int] = set()
        after = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"after": after} if after else {})}
            body = c.get(s.url + "/api/v1/events", params=params).json()
            stored.update(e["id"] for e in body["events"])
            after = body["next"]
            if not after:
                break
    assert set(acked) == stored
    s.stop()
    conn = sqlite3.connect(small_disk / "data" / "logcycle.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_io_errors_answer_503_store_nothing_twice_and_pass(tmp_path: Path,
                                                           server_factory: Any) -> None:
    """I/O errors other than ENOSPC, injected with the test-only LOGCYCLE_FAULT_FILE
    (store/faults.py): a 503 with the store's message and nothing stored; a batch whose
    commit succeeded but whose answer failed is retried by the client with its
    Idempotency-Key and stored once; all passes when the fault does, with no restart."""
    trigger = tmp_path / "fault"
    s: ServerProcess = server_factory(env={"LOGCYCLE_FAULT_FILE": str(trigger)}).start()
    with httpx.Client(base_url=s.url, headers={"Authorization": ADMIN}, timeout=30) as c:
        trigger.write_text("ioerr")
        r = c.post("/api/v1/events", json=batch(5, 0))
        assert r.status_code == 503 and r.headers["Retry-After"].isdigit()
        assert "disk I/O error" in r.json()["error"]["message"]
        assert c.get("/api/v1/events").json()["events"] == []
        trigger.write_text("ioerr-after-commit")
        logger = Logger(s.url, ADMIN, flush_interval=0.05, retry_base=0.1, retry_max=1)
        for i in range(300):
            logger.log("general", message=f"through the fault {i}")
        deadline = time.monotonic() + 10
        while logger.stats().retried == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logger.stats().retried > 0  # it met the fault
        trigger.unlink()
        assert logger.flush(timeout=30)
        stats = logger.stats()
        logger.close(5)
        assert stats.sent == 300 and stats.dropped_total == 0
        listed = c.get("/api/v1/events", params={"kind": "general", "limit": 1000}).json()
        messages = sorted(e["message"] for e in listed["events"])
        assert messages == sorted(f"through the fault {i}" for i in range(300))
        assert c.post("/api/v1/events", json=batch(5, 0)).status_code == 200
    s.stop()
