"""Fixtures of the client tests (helpers in client_helpers.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from client_helpers import FAST, KEY, FakeServer, handler_for

from logcycle.client import Logger


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_logger() -> Iterator[Callable[..., Logger]]:
    """Loggers with the FAST options, closed at the end of the test."""
    made: list[Logger] = []

    def make(url: str, **options: Any) -> Logger:
        logger = Logger(url, KEY, **{**FAST, **options})
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.close(timeout=1.0)
