"""A clock that jumps (issue 16): `maintain --now` far ahead needs a flag and says what it
empties; a server whose store is ahead of its clock starts, writes into the newest week
it holds, warns, and never empties acknowledged data to go back (both stores)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import Clock, ManualClock, SteadyClock
from logcycle.cycles import WEEK_MS, week_of
from logcycle.ingest.tasks import Maintain
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0, error_event


def _messages(c: TestClient) -> list[str]:
    events = c.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    return sorted(e["message"] for e in events)


def _post(c: TestClient, i: int, clock: Clock) -> None:
    r = c.post("/api/v1/events", json=[error_event(i, instant=clock.now_ms() - 1)])
    assert r.status_code == 200, r.text


def _client(settings: Settings, clock: ManualClock) -> tuple[Service, TestClient]:
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    return svc, TestClient(create_app(svc), headers={"Authorization": ADMIN})


def test_a_store_ahead_of_the_clock_starts_and_keeps_every_event(settings: Settings) -> None:
    clock = ManualClock(T0)
    svc, c = _client(settings, clock)
    with c:
        _post(c, 0, clock)
        ahead = T0 + 3 * WEEK_MS  # what `maintain --now <3 weeks ahead>` does
        report = svc.writer.submit_wait(Maintain(ahead))
        assert report.week == week_of(ahead, settings.tz)
        _post(c, 1, clock)  # the running server, its clock behind the store
    _, c2 = _client(settings, clock)  # a restart: it used to refuse ("use --force")
    with c2:
        _post(c2, 2, clock)
        health = c2.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "ahead of the clock" in health.json()["problems"][0]
        assert _messages(c2) == ["boom 0", "boom 1", "boom 2"]
        held = c2.get("/api/v1/status").json()["held"]
        assert held[str(report.current_cycle)] == report.week  # writes went to the newest week
    clock.set(ahead + 1000)  # the clock catches up: nothing was emptied on the way
    _, c3 = _client(settings, clock)
    with c3:
        _post(c3, 3, clock)
        assert _messages(c3) == ["boom 0", "boom 1", "boom 2", "boom 3"]
        assert c3.get("/health").json()["status"] == "ok"


class _Host:
    """The host's wall clock and its elapsed time, moved by the test."""

    def __init__(self, wall: int) -> None:
        self.wall, self.steady = wall, 0

    def tick(self, ms: int) -> None:
        self.wall += ms
        self.steady += ms


def test_an_ntp_step_forward_and_back_loses_nothing(settings: Settings) -> None:
    host = _Host(T0)
    clock = SteadyClock(accept_after_ms=3_600_000, wall=lambda: host.wall,
                        steady=lambda: host.steady)
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    c = TestClient(create_app(svc), headers={"Authorization": ADMIN})
    with c:
        _post(c, 0, clock)
        before = c.get("/api/v1/status").json()
        host.wall += 3 * WEEK_MS  # the host clock steps three weeks forward
        host.tick(1000)
        _post(c, 1, clock)
        svc.writer.submit_wait(Maintain(clock.now_ms(), catch_up=True))  # the timer's run
        status = c.get("/api/v1/status").json()
        assert status["week"] == before["week"]  # no rotation: the step was not followed
        assert status["held"] == before["held"]
        assert status["now"] < T0 + 10_000  # the server kept its own time
        assert any("stepped forward by 21.0 days" in p for p in status["problems"])
        health = c.get("/health").json()
        assert health["status"] == "degraded" and "stepped forward" in health["problems"][0]
        newest = c.get("/api/v1/events", params={"limit": 1}).json()["events"][0]
        assert newest["insert_instant"] < T0 + 10_000  # not stamped 3 weeks ahead
        host.wall -= 3 * WEEK_MS  # and NTP steps it back
        host.tick(1000)
        for i in range(2, 5):
            _post(c, i, clock)
        assert c.get("/health").json()["status"] == "ok"
        assert _messages(c) == [f"boom {i}" for i in range(5)]
    svc2 = Service(settings, clock=clock, bootstrap_key=ADMIN)  # a restart
    with TestClient(create_app(svc2), headers={"Authorization": ADMIN}) as c2:
        _post(c2, 5, clock)
        assert _messages(c2) == [f"boom {i}" for i in range(6)]


def test_a_step_that_holds_is_taken_as_a_correction(settings: Settings) -> None:
    host = _Host(T0)
    clock = SteadyClock(accept_after_ms=60_000, wall=lambda: host.wall,
                        steady=lambda: host.steady)
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        _post(c, 0, clock)
        week = c.get("/api/v1/status").json()["week"]
        host.wall += WEEK_MS
        host.tick(1000)
        assert c.get("/api/v1/status").json()["week"] == week
        host.tick(60_000)  # the step held for the accept time: the server follows it
        svc.writer.submit_wait(Maintain(clock.now_ms(), catch_up=True))
        status = c.get("/api/v1/status").json()
        assert status["week"] == week + 1 and status["problems"] == []
        assert c.get("/health").json()["status"] == "ok"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logcycle", "maintain", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_maintain_far_ahead_of_the_clock_needs_a_flag(tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    assert _cli("--data", data).returncode == 0
    later = (datetime.now(UTC) + timedelta(days=21)).isoformat()
    r = _cli("--data", data, "--now", later)
    assert r.returncode == 1
    assert "--ahead-of-clock" in r.stderr and "it would empty" in r.stderr
    assert "days ahead" in r.stderr
    soon = (datetime.now(UTC) + timedelta(days=6)).isoformat()
    assert _cli("--data", data, "--now", soon).returncode == 0  # within a week: as before
    r = _cli("--data", data, "--now", later, "--ahead-of-clock")
    assert r.returncode == 0, r.stderr
    assert "emptied cycles" in r.stdout
