"""Faults of the disk: a full filesystem is a 507 that stores nothing, and the server
recovers by itself when space returns. Runs on a real small tmpfs (needs root to mount)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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
