"""Hostile connections against the real server (issue 16): huge or countless headers,
slowloris, slow and endless bodies, thousands of idle sockets."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.slow
LIMITS = ("--header-timeout-s", "1", "--body-timeout-s", "2", "--max-connections", "64",
          "--max-header-bytes", "16384", "--max-headers", "50")


@pytest.fixture
def server(server_factory: Any) -> ServerProcess:
    s: ServerProcess = server_factory(*LIMITS).start()
    return s


def _conn(s: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (b"" if it just closed)."""
    out = b""
    with sock:
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return out


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_huge_and_countless_headers_are_431(server: ServerProcess) -> None:
    sock = _conn(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    answer = _answer(sock)
    assert _status(answer) == 431 and b"16384 bytes" in answer
    sock = _conn(server)
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(200))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    answer = _answer(sock)
    assert _status(answer) == 431 and b"50 header lines" in answer
    # a 64 MB header is cut at the limit, not buffered: answered at once
    sock = _conn(server)
    started = time.monotonic()
    sock.sendall(b"GET /health HTTP/1.1\r\nX-Big: ")
    try:
        for _ in range(1024):
            sock.sendall(b"a" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.close()
    assert time.monotonic() - started < 10
    assert httpx.get(server.url + "/health").status_code == 200
    # within the limits, all is as before
    r = httpx.get(server.url + "/health", headers={f"X-{i}": "1" for i in range(40)})
    assert r.status_code == 200


def test_slowloris_and_slow_bodies_are_cut(server: ServerProcess) -> None:
    slow = [_conn(server) for _ in range(20)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the end
    idle = _conn(server)  # sends nothing at all
    started = time.monotonic()
    answers = [_answer(sock) for sock in slow]
    assert all(_status(a) == 408 for a in answers), answers[:2]
    assert _answer(idle) == b""  # closed without a word
    assert time.monotonic() - started < 5  # 1 s header timeout, on a shared machine
    sock = _conn(server)  # a chunked body that never ends
    sock.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                 ADMIN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    started = time.monotonic()
    answer = b""
    try:
        while time.monotonic() - started < 8:
            sock.sendall(b"1\r\n \r\n")
            time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(5)
    answer = _answer(sock)
    assert time.monotonic() - started < 8
    assert _status(answer) in (408, 0), answer  # 408 if it could still be read
    assert httpx.get(server.url + "/health").status_code == 200


def test_idle_sockets_cannot_lock_out_a_client(server: ServerProcess) -> None:
    """At --max-connections (64) open, a new connection closes the one idle longest:
    1,000 idle sockets later /health still answers at once."""
    socks = []
    for _ in range(1000):
        try:
            socks.append(_conn(server))
        except OSError:
            break
    try:
        for _ in range(5):
            started = time.monotonic()
            assert httpx.get(server.url + "/health", timeout=5).status_code == 200
            assert time.monotonic() - started < 2
    finally:
        for sock in socks:
            sock.close()


def test_a_client_gone_mid_body_logs_one_line(server_factory: Any) -> None:
    s: ServerProcess = server_factory("--log-level", "info").start()
    for _ in range(3):
        sock = _conn(s)
        sock.sendall(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                     ADMIN.encode() + b"\r\nContent-Length: 1000\r\n\r\n[{\"kind\":")
        time.sleep(0.2)
        sock.close()
    time.sleep(0.5)
    assert httpx.get(s.url + "/health").status_code == 200
    s.stop()
    assert s.proc is not None and s.proc.stdout is not None
    out = s.proc.stdout.read().decode()
    assert "Traceback" not in out, out
    gone = [ln for ln in out.splitlines() if "went away" in ln]
    assert len(gone) == 3, out
