"""Running the HTTP server: in this process, or as N worker processes sharing one port.

    serve(settings, service)          # workers == 1: uvicorn in this process
    serve_workers(settings)           # workers > 1: uvicorn's process manager

Several workers need a PostgreSQL store: each worker builds its own Service (store
connections, writer thread, read threads) from the settings handed down in an
environment variable, and the store's advisory lock orders their commits (see
:mod:`logcycle.store.postgres`). uvicorn restarts a worker that dies, even by kill -9;
what it had acknowledged is committed, what it had not is retried by the clients.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from logcycle.connections import GuardedProtocol, Limits, fd_budget, guarded_protocol
from logcycle.service import Service
from logcycle.settings import Settings

SETTINGS_ENV = "LOGCYCLE__WORKER_SETTINGS"  # set by the parent for its workers only
PARENT_ENV = "LOGCYCLE__WORKER_PARENT"
PR_SET_PDEATHSIG = 1
MAX_WRITE_LANES = 8


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def check_workers(settings: Settings) -> str | None:
    """Why these settings cannot run ``settings.workers`` processes (None: they can)."""
    if settings.workers < 1:
        return f"--workers must be 1 or more, got {settings.workers}"
    if not 0 <= settings.write_lanes <= MAX_WRITE_LANES:
        return f"--write-lanes must be 0 to {MAX_WRITE_LANES}, got {settings.write_lanes}"
    if settings.workers > 1 and not is_postgres(settings.store_url):
        return ("--workers above 1 needs a PostgreSQL store (--store postgresql://…): a "
                "SQLite file has a single writer; run one process, or see docs/scaling.md")
    return None


def check_port(host: str, port: int) -> str | None:
    """Why the server cannot listen on host:port (None: it can, as far as a test bind
    tells). Run before anything else, so a busy port creates no store and no key."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another logcycle, or a "
                        "`make run` in another terminal?): stop that server, or choose "
                        f"another port: --port {port + 1} or LOGCYCLE_PORT={port + 1}")
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


SHUTDOWN_GRACE_S = 5


def limits_of(settings: Settings) -> Limits:
    """The connection limits of ``settings`` (connections within the open-file limit)."""
    return Limits(max_connections=fd_budget(settings.max_connections),
                  max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers,
                  header_timeout_s=settings.header_timeout_s,
                  body_timeout_s=settings.body_timeout_s)


class WorkerProtocol(GuardedProtocol):
    """The protocol of a worker process (named by import path: uvicorn starts workers
    with spawn); :func:`worker_app` sets its limits from the settings handed down."""


def _uvicorn_options(settings: Settings, *, workers: bool = False) -> dict[str, Any]:
    # httptools behind the guards of logcycle.connections (header size and count, slow
    # headers and bodies, a connection cap): uvicorn has no knob for most of them.
    http: Any = ("logcycle.serving:WorkerProtocol" if workers
                 else guarded_protocol(limits_of(settings)))
    return {"host": settings.host, "port": settings.port,
            "loop": "uvloop" if _has("uvloop") else "asyncio", "http": http,
            "timeout_keep_alive": settings.keep_alive_s,
            "log_level": settings.log_level, "access_log": False, "server_header": False,
            # The client's address is the peer's; X-Forwarded-For counts only from the
            # --trusted-proxies (api/throttle.py), never by uvicorn's default for 127.0.0.1.
            "proxy_headers": False,
            # Live tails (server-sent events) never end by themselves: at shutdown they get
            # this long, then are cancelled (clients resume from their Last-Event-ID).
            "timeout_graceful_shutdown": SHUTDOWN_GRACE_S}


def serve(settings: Settings, service: Service) -> None:
    """Serve ``service`` in this process until interrupted."""
    import uvicorn

    from logcycle.api.app import create_app

    service.offload.start()  # the protocol workers start beside the server
    uvicorn.run(create_app(service), **_uvicorn_options(settings))


def serve_workers(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes on one socket until interrupted. The
    caller has already opened the store once (schema, catch-up, first key)."""
    import uvicorn

    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    os.environ[SETTINGS_ENV] = orjson.dumps(values, default=str).decode()
    os.environ[PARENT_ENV] = str(os.getpid())
    uvicorn.run("logcycle.serving:worker_app", factory=True, workers=settings.workers,
                **_uvicorn_options(settings, workers=True))


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn calls this in each of them)."""
    from logcycle.api.app import create_app

    _die_with_parent(int(os.environ.get(PARENT_ENV, "0")))
    values = orjson.loads(os.environ[SETTINGS_ENV])
    settings = Settings(**{**values, "data": Path(values["data"])})
    WorkerProtocol.limits = limits_of(settings)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = Service(settings, bootstrap_key=os.environ.get("LOGCYCLE_API_KEY") or None)
    service.offload.start()
    return create_app(service)


def _die_with_parent(parent: int) -> None:
    """On Linux a worker gets SIGTERM when the process that started it dies, even by
    kill -9: no orphan keeps serving the port behind a supervisor's back."""
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
