"""Housekeeping of the HTTP surface and the data files (issue 16): API JSON is never
cached or sniffed, a 405 says which methods are allowed, the SQLite files are 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0, error_event

JSON_ANSWERS = [
    ("GET", "/health", 200), ("GET", "/api/v1/events", 200), ("GET", "/api/v1/status", 200),
    ("GET", "/api/v1/events?limit=x", 400), ("GET", "/api/system/event-log/search", 200),
    ("GET", "/api/v1/nothing", 404), ("POST", "/rpc", 400)]
NOT_ALLOWED = [("TRACE", "/api/v1/events", {"GET", "POST"}), ("DELETE", "/health", {"GET"}),
               ("TRACE", "/rpc", {"POST"})]


def test_api_json_is_no_store_and_nosniff(client: TestClient) -> None:
    for method, path, status in JSON_ANSWERS:
        r = client.request(method, path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_a_405_names_the_allowed_methods(client: TestClient) -> None:
    for method, path, allowed in NOT_ALLOWED:
        r = client.request(method, path)
        assert r.status_code == 405
        assert allowed <= {m.strip() for m in r.headers["allow"].split(",")}, path


def test_the_sqlite_files_are_created_0600(tmp_path: Path) -> None:
    svc = Service(Settings(data=tmp_path / "data"), clock=ManualClock(T0), bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        assert c.post("/api/v1/events", json=[error_event()]).status_code == 200
        for name in ("logcycle.db", "logcycle.db-wal", "logcycle.db-shm", "secret.key"):
            mode = stat.S_IMODE(os.stat(tmp_path / "data" / name).st_mode)
            assert mode == 0o600, (name, oct(mode))
