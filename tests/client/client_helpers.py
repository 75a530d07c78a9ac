"""Helpers of the client tests: a scripted stdlib HTTP server standing in for logcycle
(to inject 429/503/413/400 and dropped connections), and quick Logger options.

(A module of its own, not conftest.py, so that tests import it by a name no other test
folder uses.)"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

KEY = "client-test-key"
# Short intervals so that the suite stays fast; a test never asserts on speed.
FAST: dict[str, Any] = {"flush_interval": 0.05, "retry_base": 0.02, "retry_max": 0.1,
                        "timeout": 5.0}


@dataclass
class Seen:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    items: list[Any]
    status: int = 0


# What the fake answers: (status, JSON body or None, extra headers), or DROP to close the
# connection without an answer.
Answer = tuple[int, Any, dict[str, str]]
DROP: Answer = (-1, None, {})


@dataclass
class FakeServer:
    """A stand-in for the logcycle server; answers from ``script`` first, then 200."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    script: list[Answer | Callable[[Seen], Answer]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, seen: Seen) -> Answer:
        with self.lock:
            self.requests.append(seen)
            step = self.script.pop(0) if self.script else None
        if step is None:
            return 200, {"ids": list(range(1, len(seen.items) + 1))}, {}
        return step(seen) if callable(step) else step

    def stored(self) -> list[Any]:
        """Items of the requests answered 2xx (by the default answer), in order."""
        return [item for seen in self.ok_requests() for item in seen.items]

    def ok_requests(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.requests if 200 <= s.status < 300]


def handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            seen = Seen("POST", self.path, dict(self.headers.items()), json.loads(body))
            status, payload, headers = fake.answer(seen)
            seen.status = status
            if status == -1:
                self.close_connection = True
                self.connection.close()
                return
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class RealServer:
    """``python -m logcycle serve`` as a subprocess on a free port (restartable on it)."""

    def __init__(self, data: Path, *options: str) -> None:
        self.data = data
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> RealServer:
        env = {**os.environ, "LOGCYCLE_API_KEY": KEY}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logcycle", "serve", "--data", str(self.data),
             "--port", str(self.port), "--log-level", "warning", *self.options],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self._stderr()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: the harshest stop (an answer may be lost after the commit)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def _stderr(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path,  # noqa: S310 - http only
                                         headers={"Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return json.load(answer)

    def all_events(self) -> list[dict[str, Any]]:
        """Every stored event, following the pages."""
        events: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.get(f"/api/v1/events?limit=1000{after}")
            events += page["events"]
            if not page["next"]:
                return events
            after = f"&after={page['next']}"
