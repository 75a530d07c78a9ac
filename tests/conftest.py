"""Fixtures: a service on a real SQLite file in a temp dir, driven in-process through its
ASGI app, and a real server subprocess for the tests that need a process to kill."""

from __future__ import annotations

import os
import socket
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
from logcycle.clock import ManualClock
from logcycle.cycles import ms_of
from logcycle.service import Service
from logcycle.settings import Settings
from tests import pg

ADMIN = "test-admin-key"
T0 = ms_of("2026-11-23T15:00:00+00:00")  # week 1403, cycle 3


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that builds a service runs on both stores: SQLite in tmp_path/data, and a
    fresh PostgreSQL schema (tests/pg.py: skipped when unreachable, failed with CI=true)."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'data' / 'logcycle.db').as_posix()}"
    else:
        with pg.fresh_schema() as url:
            yield url


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    # Many tests send wrong keys on purpose: the failure throttle (tested with its default
    # in tests/api/test_keys.py) would answer them 429 instead of the 401 they check.
    return Settings(data=tmp_path / "data", store=store_url, auth_failures=10_000)


@pytest.fixture
def service(settings: Settings, clock: ManualClock) -> Iterator[Service]:
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    yield svc
    svc.close()  # again, if the client closed it: its connections must go before its schema


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


def error_event(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"kind": "error", "instant": T0 - 1000 + i, "module_name": "shop",
            "message": f"boom {i}", **extra}


def wait_for(check: Any, timeout: float = 10.0, every: float = 0.05) -> Any:
    """What ``check()`` gives once it is truthy, polled every ``every`` s for at most
    ``timeout`` s (then AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError("timed out")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``logcycle serve`` as a subprocess on a free port."""

    def __init__(self, data: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.env = {**os.environ, "LOGCYCLE_API_KEY": ADMIN, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logcycle", "serve", "--data", str(self.data),
             "--port", str(self.port), "--log-level", "warning", *self.extra],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"server exited: {out}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def make(*extra: str, data: Path | None = None, **kw: Any) -> ServerProcess:
        s = ServerProcess(data or tmp_path / "data", *extra, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()
        if s.proc is not None and s.proc.stdout is not None:
            s.proc.stdout.close()
