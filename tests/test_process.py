"""The real server as a process: first start, keys from the CLI while it runs, kill -9."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.slow


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logcycle", *args, "--data", str(data)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_first_start_prints_an_admin_key_once(tmp_path: Path, server_factory: Any) -> None:
    s: ServerProcess = server_factory(env={"LOGCYCLE_API_KEY": ""})
    s.start()
    s.stop()
    assert s.proc is not None and s.proc.stdout is not None
    out = s.proc.stdout.read().decode()
    key = out.split("Created the first admin key (shown once, keep it):\n")[1].split()[0]
    s2: ServerProcess = server_factory(env={"LOGCYCLE_API_KEY": ""})
    s2.start()
    r = httpx.get(s2.url + "/api/v1/status", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    s2.stop()
    assert s2.proc is not None and s2.proc.stdout is not None
    assert "Created the first admin key" not in s2.proc.stdout.read().decode()


def test_a_busy_port_is_refused_before_anything_else(tmp_path: Path) -> None:
    """`make run` on a port already taken: one clear line, exit 1, and no store, no key."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        run = subprocess.run([sys.executable, "-m", "logcycle", "serve", "--data", str(data),
                              "--port", str(port)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "LOGCYCLE_API_KEY": ""}, check=False)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in run.stderr
    assert f"--port {port + 1}" in run.stderr
    assert "Created the first admin key" not in run.stdout + run.stderr
    assert "startup complete" not in run.stderr
    assert not (data / "logcycle.db").exists()


def test_keys_cli_while_the_server_runs(tmp_path: Path, server_factory: Any) -> None:
    s: ServerProcess = server_factory().start()
    data = tmp_path / "data"
    r = cli(data, "keys", "create", "--scope", "read", "--name", "reader")
    assert r.returncode == 0, r.stderr
    key = r.stdout.split()[-1]
    time.sleep(1.2)
    assert httpx.get(s.url + "/api/v1/events", headers={"Authorization": key}).status_code == 200
    assert httpx.post(s.url + "/api/v1/events", json=[],
                      headers={"Authorization": key}).status_code == 403
    listing = cli(data, "keys", "list").stdout
    assert "reader" in listing and key not in listing
    key_id = next(ln.split()[0] for ln in listing.splitlines() if "reader" in ln)
    assert cli(data, "keys", "revoke", key_id).returncode == 0
    time.sleep(1.2)
    assert httpx.get(s.url + "/api/v1/events", headers={"Authorization": key}).status_code == 401
    assert cli(data, "keys", "revoke", "999").returncode == 1
    s.stop()


def _client(url: str, n: int, acked: list[int], stop: threading.Event) -> None:
    with httpx.Client(headers={"Authorization": ADMIN}, timeout=5) as c:
        i = 0
        while not stop.is_set():
            batch = [{"kind": "general", "instant": 1_700_000_000_000, "message": f"c{n}-{i}-{j}"}
                     for j in range(50)]
            i += 1
            try:
                r = c.post(url + "/api/v1/events", json=batch)
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                acked.extend(r.json()["ids"])


def test_kill_9_loses_no_acknowledged_event(tmp_path: Path, server_factory: Any) -> None:
    s: ServerProcess = server_factory().start()
    acked: list[int] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_client, args=(s.url, n, acked, stop)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    s.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 2000
    s2: ServerProcess = server_factory()
    s2.start()
    stored: set[int] = set()
    after = None
    with httpx.Client(headers={"Authorization": ADMIN}) as c:
        while True:
            params: dict[str, Any] = {"limit": 1000, "kind": "general"}
            if after:
                params["after"] = after
            body = c.get(s2.url + "/api/v1/events", params=params).json()
            stored.update(e["id"] for e in body["events"])
            after = body["next"]
            if not after:
                break
    assert set(acked) <= stored
    s2.stop()
