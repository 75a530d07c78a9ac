"""A real HTTP server (uvicorn on a free port, in a thread of the test process) over the
``settings`` store (SQLite and PostgreSQL), with the system clock: real shipper clients
send real times. ``live.events()`` reads back through ``GET /api/v1/events``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from logcycle.api.app import create_app
from logcycle.keys import hash_key, new_key
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN


@dataclass
class Live:
    url: str
    port: int
    service: Service

    def key(self, scope: str = "ingest", src_prefix: str | None = None) -> str:
        key = new_key()
        self.service.store.add_key(hash_key(self.service.secret, key), scope, None,
                                   src_prefix, 0)
        self.service.auth.reload()
        return key

    def events(self, **params: Any) -> list[dict[str, Any]]:
        r = httpx.get(self.url + "/api/v1/events", params={"limit": 1000, **params},
                      headers={"Authorization": ADMIN}, timeout=10)
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()["events"]
        return events[::-1]  # oldest first


def serve_in_thread(service: Service) -> Iterator[Live]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning",
                                           loop="asyncio", http="h11", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", port, service)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        service.close()


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings


@pytest.fixture
def live(live_settings: Settings) -> Iterator[Live]:
    yield from serve_in_thread(Service(live_settings, bootstrap_key=ADMIN))
