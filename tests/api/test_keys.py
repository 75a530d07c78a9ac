"""Keys on a running server: a new key works on the very next request, a revoked one fails
from the next request on (also when another process revoked it), the environment key is
listed and announced (never shown), and failed authentications are throttled per client
address (429 + Retry-After) and logged in aggregate. Issue 16 (weak spots: "a new key
works at once", "brute force")."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.api.throttle import FailureThrottle
from logcycle.clock import ManualClock
from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0


def add_key(service: Service, scope: str = "read") -> tuple[str, int]:
    """What `logcycle keys create` does: a row in the store, the server not told."""
    key = new_key()
    return key, service.store.add_key(hash_key(service.secret, key), scope, None, None, 0)


def test_a_new_key_works_on_the_very_next_request(client: TestClient,
                                                  service: Service) -> None:
    for _ in range(15):
        wrong = client.get("/api/v1/events", headers={"Authorization": "lc_unknown"})
        assert wrong.status_code == 401  # and the key cache was just refreshed
        key, key_id = add_key(service)
        r = client.get("/api/v1/events", headers={"Authorization": key})
        assert r.status_code == 200, "a key just created was refused"
    assert client.get("/api/v1/events", headers={"Authorization": key}).status_code == 200
    service.store.revoke_key(key_id, 1)
    assert client.get("/api/v1/events", headers={"Authorization": key}).status_code == 401


def test_a_key_revoked_by_another_process_fails_on_the_next_request(
        settings: Settings, tmp_path: Path) -> None:
    """`logcycle keys revoke` is another process with a store of its own: the server
    notices from the store (a stamp file on SQLite, NOTIFY on PostgreSQL), not a timer."""
    from logcycle.store.factory import make_store
    svc = Service(settings, clock=ManualClock(T0), bootstrap_key=ADMIN)
    with TestClient(create_app(svc)) as c:
        for _ in range(5):
            key, key_id = add_key(svc)
            assert c.get("/api/v1/events", headers={"Authorization": key}).status_code == 200
            other = make_store(settings)  # what the CLI opens
            other.open(T0, maintain=False)
            try:
                assert other.revoke_key(key_id, T0)
            finally:
                other.close()
            deadline = time.monotonic() + 0.5  # NOTIFY arrives after the commit: ms
            status = 200
            while status == 200 and time.monotonic() < deadline:
                status = c.get("/api/v1/events", headers={"Authorization": key}).status_code
                if settings.store.startswith("sqlite"):  # SQLite: the very next request
                    break
            assert status == 401, "a revoked key was still accepted"


@pytest.mark.slow
def test_keys_create_then_use_at_once_on_a_real_server(tmp_path: Path,
                                                       server_factory: Any) -> None:
    s = server_factory().start()
    for _ in range(3):
        assert httpx.get(s.url + "/api/v1/events",
                         headers={"Authorization": "lc_nope"}).status_code == 401
        out = subprocess.run([sys.executable, "-m", "logcycle", "keys", "create", "--scope",
                              "read", "--data", str(tmp_path / "data")], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        key = out.split()[-1]
        r = httpx.get(s.url + "/api/v1/events", headers={"Authorization": key})
        assert r.status_code == 200
        ids = subprocess.run([sys.executable, "-m", "logcycle", "keys", "list", "--data",
                              str(tmp_path / "data")], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        key_id = [line.split()[0] for line in ids.splitlines() if line.split()
                  and line.split()[0].isdigit()][-1]
        subprocess.run([sys.executable, "-m", "logcycle", "keys", "revoke", key_id, "--data",
                        str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                       check=True)
        r = httpx.get(s.url + "/api/v1/events", headers={"Authorization": key})
        assert r.status_code == 401, "revoked with `keys revoke`, still accepted"
    listing = subprocess.run([sys.executable, "-m", "logcycle", "keys", "list", "--data",
                              str(tmp_path / "data")], capture_output=True, text=True,
                             timeout=60, check=True, env={**s.env}).stdout
    assert "env-key" in listing and "LOGCYCLE_API_KEY" in listing and ADMIN not in listing
    s.stop()
    assert s.proc is not None and s.proc.stdout is not None
    startup = s.proc.stdout.read().decode()
    assert "environment key (LOGCYCLE_API_KEY) is active" in startup
    assert ADMIN not in startup


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[tuple[Service, Ticks]]:
    settings = Settings(data=tmp_path / "data", trusted_proxies="10.0.0.1")
    assert settings.auth_failures == 20  # the default, which the rest of this test uses
    svc = Service(settings, clock=ManualClock(T0), bootstrap_key=ADMIN)
    ticks = Ticks()
    svc.auth.throttle = FailureThrottle(limit=settings.auth_failures, window_s=60,
                                        monotonic=ticks)
    yield svc, ticks
    svc.close()


def test_failed_authentications_are_throttled_per_address(
        throttled: tuple[Service, Ticks], caplog: pytest.LogCaptureFixture) -> None:
    svc, ticks = throttled
    app = create_app(svc)
    caplog.set_level(logging.WARNING, logger="logcycle.auth")
    with TestClient(app, client=("192.0.2.7", 1)) as guesser, \
            TestClient(app, client=("192.0.2.8", 1)) as neighbour, \
            TestClient(app, client=("10.0.0.1", 1)) as proxy:
        statuses = [guesser.get("/api/v1/events", headers={"Authorization": f"lc_{i}"})
                    .status_code for i in range(25)]
        assert statuses == [401] * 20 + [429] * 5
        r = guesser.get("/api/v1/events", headers={"Authorization": ADMIN})
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        assert "too many failed authentications" in r.json()["error"]["message"]
        # X-Forwarded-For of a peer that is no trusted proxy changes nothing.
        spoof = guesser.get("/api/v1/events", headers={"Authorization": ADMIN,
                                                       "X-Forwarded-For": "198.51.100.1"})
        assert spoof.status_code == 429
        assert neighbour.get("/api/v1/events", headers={"Authorization": ADMIN}).status_code \
            == 200
        assert neighbour.get("/health").status_code == 200  # no key: never throttled
        # Behind the trusted proxy, each client is its own address.
        for i in range(20):
            proxy.get("/api/v1/events", headers={"Authorization": f"lc_{i}",
                                                 "X-Forwarded-For": "192.0.2.7, 198.51.100.9"})
        behind = {"X-Forwarded-For": "198.51.100.9"}
        assert proxy.get("/api/v1/events", headers={"Authorization": ADMIN, **behind}) \
            .status_code == 429
        other = {"X-Forwarded-For": "198.51.100.10"}
        assert proxy.get("/api/v1/events", headers={"Authorization": ADMIN, **other}) \
            .status_code == 200
        assert not [r for r in caplog.records if "failed authentications" in r.getMessage()]
        ticks.now += 61  # the window ended: the address may try again, and one line is logged
        assert guesser.get("/api/v1/events", headers={"Authorization": ADMIN}).status_code \
            == 200
        guesser.get("/api/v1/events", headers={"Authorization": "lc_again"})
    lines = [r.getMessage() for r in caplog.records if "failed authentications" in
             r.getMessage()]
    assert len(lines) == 1, lines
    assert "40 failed authentications" in lines[0] and "192.0.2.7: 20" in lines[0]
    assert "198.51.100.9: 20" in lines[0] and "8 requests throttled" in lines[0]
