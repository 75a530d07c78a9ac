"""A real server process whose host clock steps (issue 16): the test-only step file
(LOGCYCLE_FAULT_CLOCK_STEP_FILE) shifts the wall clock the server reads, as NTP or
`date -s` would; the elapsed time is the real one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from logcycle.clock import STEP_FILE_ENV
from tests.conftest import ADMIN, wait_for

pytestmark = pytest.mark.slow
H = {"Authorization": ADMIN}
DAY = 86_400_000


def _post(url: str, i: int) -> None:
    now = int(time.time() * 1000)
    r = httpx.post(url + "/api/v1/events", headers=H, json=[
        {"kind": "error", "instant": now, "module_name": "shop", "message": f"boom {i}"}])
    assert r.status_code == 200, r.text


def test_a_running_server_does_not_follow_a_step_of_the_host_clock(
        tmp_path: Path, server_factory: Any) -> None:
    step = tmp_path / "step"
    step.write_text("0")
    s = server_factory(env={STEP_FILE_ENV: str(step)}).start()
    _post(s.url, 0)
    before = httpx.get(s.url + "/api/v1/status", headers=H).json()
    step.write_text(str(21 * DAY))  # the host clock jumps three weeks ahead
    health = wait_for(lambda: (h := httpx.get(s.url + "/health").json())["status"] == "degraded"
                   and h)
    assert "stepped forward by 21.0 days" in health["problems"][0]
    for i in range(1, 4):
        _post(s.url, i)
    time.sleep(1.2)  # the writer's timer runs its rotation check at least once
    status = httpx.get(s.url + "/api/v1/status", headers=H).json()
    assert status["week"] == before["week"] and status["held"] == before["held"]
    assert abs(status["now"] - time.time() * 1000) < 60_000
    events = httpx.get(s.url + "/api/v1/events", headers=H).json()["events"]
    assert all(abs(e["insert_instant"] - time.time() * 1000) < 60_000 for e in events)
    step.write_text("0")  # NTP steps it back
    wait_for(lambda: httpx.get(s.url + "/health").json()["status"] == "ok")
    _post(s.url, 4)
    s.kill()  # kill -9, then a restart: everything acknowledged is there
    s2 = server_factory(env={STEP_FILE_ENV: str(step)}).start()
    events = httpx.get(s2.url + "/api/v1/events", headers=H).json()["events"]
    assert sorted(e["message"] for e in events) == [f"boom {i}" for i in range(5)]


def test_with_accept_zero_the_server_follows_the_host_clock(
        tmp_path: Path, server_factory: Any) -> None:
    step = tmp_path / "step"
    step.write_text("0")
    s = server_factory("--clock-step-accept-s", "0", env={STEP_FILE_ENV: str(step)}).start()
    week = httpx.get(s.url + "/api/v1/status", headers=H).json()["week"]
    step.write_text(str(7 * DAY))
    wait_for(lambda: httpx.get(s.url + "/api/v1/status", headers=H).json()["week"] == week + 1)
    assert httpx.get(s.url + "/health").json()["status"] == "ok"
