"""A real HTTP server in the test process: the app under uvicorn on a free port, in a
thread, for the tests that drive third-party SDKs (they speak HTTP, not ASGI). Its service
is the test's own, so a test can look at it (and its clock is the real one: the SDKs
stamp records with the wall clock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

import uvicorn

from logcycle.api.app import create_app
from logcycle.keys import hash_key, new_key
from logcycle.service import Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class StatusLog:
    """An ASGI wrapper that records the status of every answer, by path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append((scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


class LiveServer:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.app = StatusLog(create_app(service))
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)

    def key(self, scope: str) -> str:
        """A new key of ``scope``, in effect at once."""
        key = new_key()
        self.service.store.add_key(hash_key(self.service.secret, key), scope, None, None, 0)
        self.service.auth.reload()
        return key

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()
