"""``logcycle serve --syslog-tcp`` as a real process: the listener starts with the server,
messages are read back through the API, and what was committed survives ``kill -9``."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, free_port


def count(url: str, q: str) -> int:
    n, after = 0, None
    while True:
        params: dict[str, Any] = {"q": q, "limit": 1000, **({"after": after} if after else {})}
        page = httpx.get(url + "/api/v1/events", params=params,
                         headers={"Authorization": ADMIN}, timeout=10).json()
        n += len(page["events"])
        after = page["next"]
        if not after:
            return n


@pytest.mark.slow
def test_syslog_lines_survive_kill_9(server_factory: Any, tmp_path: Path) -> None:
    port = free_port()
    server = server_factory("--syslog-tcp", str(port)).start()
    frames = [f"<14>1 - host-{i % 3} app - - - survives kill {i}".encode() for i in range(3000)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
    deadline = time.monotonic() + 30
    while count(server.url, "survives kill") < 3000 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count(server.url, "survives kill") == 3000
    server.kill()
    again = server_factory("--syslog-tcp", str(port), data=tmp_path / "data").start()
    assert count(again.url, "survives kill") == 3000
    again.stop()
