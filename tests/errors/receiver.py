"""A local webhook receiver for the alert tests (real HTTP on 127.0.0.1, port 0)."""

from __future__ import annotations

import http.server
import threading
import time
from typing import Any

import orjson


class Receiver:
    """A local webhook receiver: records each POST (and when it came, ``times``); answers
    the statuses queued, then ``status``; while ``hold`` is set, it holds each answer until
    the event is set (a receiver that hangs)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.times: list[float] = []  # time.monotonic() of each POST
        self.answers: list[int] = []
        self.status = 200
        self.hold: threading.Event | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.times.append(time.monotonic())
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if outer.hold is not None:
                    outer.hold.wait(30)
                self.send_response(outer.answers.pop(0) if outer.answers else outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(b) for _, b in self.got]
