"""Overload through the shippers' routes: 429 (Elasticsearch) or 503 with Retry-After,
nothing stored of the refused request; the syslog listener holds what it read and stores
it once the writer has room (TCP back-pressure instead of loss)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store.factory import make_store
from tests.api.test_overload import GatedStore
from tests.conftest import ADMIN, T0, error_event, free_port

REFUSED: list[tuple[str, bytes, str, int]] = [
    ("/es/_bulk", b'{"create":{}}\n{"message":"refused es"}\n', "application/x-ndjson", 429),
    ("/loki/api/v1/push", orjson.dumps({"streams": [{"stream": {"job": "j"}, "values": [
        [str(T0 * 10**6), "refused loki"]]}]}), "application/json", 503),
    ("/ingest/clef", b'{"@m":"refused clef"}', "application/vnd.serilog.clef", 503),
]


def test_full_queue_refuses_shippers_and_syslog_waits(tmp_path: Path) -> None:
    syslog_port = free_port()
    settings = Settings(data=tmp_path, max_pending_events=100, syslog_tcp=syslog_port)
    store = GatedStore(make_store(settings))
    svc = Service(settings, clock=ManualClock(T0), store=store,  # type: ignore[arg-type]
                  bootstrap_key=ADMIN)
    with TestClient(create_app(svc), headers={"Authorization": ADMIN}) as c:
        store.gate.clear()
        results: list[Any] = []
        first = threading.Thread(target=lambda: results.append(
            c.post("/api/v1/events", json=[error_event(i) for i in range(150)])))
        first.start()
        while svc.writer.pending == 0:
            time.sleep(0.001)
        for path, body, ctype, status in REFUSED:
            r = c.post(path, content=body, headers={"Content-Type": ctype})
            assert r.status_code == status, (path, r.text)
            assert 1 <= int(r.headers["Retry-After"]) <= 30
        assert c.post("/es/_bulk", content=REFUSED[0][1]).headers["x-elastic-product"]
        with socket.create_connection(("127.0.0.1", syslog_port)) as sock:
            sock.sendall(b"<13>1 - h app - - - waited for room\n")
        time.sleep(0.5)  # the listener read it and is waiting for the writer
        store.gate.set()
        first.join()
        assert results[0].status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = c.get("/api/v1/events", params={"q": "waited for room"}).json()["events"]
            if found:
                break
            time.sleep(0.05)
        assert [e["message"] for e in found] == ["waited for room"]
        assert c.get("/api/v1/events", params={"q": "refused"}).json()["events"] == []
