"""The live tail: the query behind it, the route's limits, and a real stream from a real
server (new events arrive, filters apply, a dropped stream resumes from Last-Event-ID)."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from logcycle.api.tail import TailSlots
from logcycle.keys import ALL
from logcycle.query.filters import EventFilter
from logcycle.query.scope import Reader
from logcycle.query.tail import events_after, high_water
from logcycle.service import Service
from tests.conftest import ADMIN, T0, error_event


def ingest(client: TestClient, events: list[dict[str, Any]]) -> list[int]:
    r = client.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    return ids


def test_events_after_reads_forward_in_bounded_steps(client: TestClient,
                                                     service: Service) -> None:
    assert high_water(Reader(service.store, ALL)) == 0
    general = {"kind": "general", "instant": T0, "message": "hello"}
    ids = ingest(client, [error_event(1), general, error_event(2), error_event(3), general])
    top = high_water(Reader(service.store, ALL))
    assert top == ids[-1]
    errors = EventFilter(kinds=("error",))
    got, mark = events_after(Reader(service.store, ALL), errors, 0, top, limit=2)
    assert [e["id"] for e in got] == [ids[0], ids[2]] and mark == ids[2]
    got, mark = events_after(Reader(service.store, ALL), errors, mark, top, limit=2)
    assert [e["id"] for e in got] == [ids[3]] and mark == top
    assert events_after(Reader(service.store, ALL), errors, mark, top, limit=2) == ([], top)
    everything, _ = events_after(Reader(service.store, ALL), EventFilter(), 0, top, limit=100,
                                 recent_only=True)
    assert [e["id"] for e in everything] == ids
    hello, _ = events_after(Reader(service.store, ALL), EventFilter(q="h*o", wildcard=True), 0,
                            top, limit=9)
    assert [e["id"] for e in hello] == [ids[1], ids[4]]


@pytest.mark.parametrize(("params", "headers", "word"), [
    ({"after_id": "x"}, {}, "after_id"), ({}, {"Last-Event-ID": "-1"}, "Last-Event-ID"),
    ({"start": "1"}, {}, "start"), ({"kind": "nope"}, {}, "nope"),
])
def test_tail_names_bad_parameters(client: TestClient, params: dict[str, str],
                                   headers: dict[str, str], word: str) -> None:
    r = client.get("/api/v1/tail", params=params, headers=headers)
    assert r.status_code == 400
    assert word in r.json()["error"]["message"]


def test_tail_is_capped(client: TestClient) -> None:
    client.app.state.tail_slots = TailSlots(0)  # type: ignore[attr-defined]
    r = client.get("/api/v1/tail")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "live tails" in r.json()["error"]["message"]


class Stream:
    """A tail read on a thread: its messages (event, id, data) as they arrive."""

    def __init__(self, url: str, params: dict[str, str], last_id: int | None = None) -> None:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.messages: list[tuple[str, int | None, Any]] = []
        self.ready = threading.Event()
        host, port = url.removeprefix("http://").split(":")
        self._conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self._conn.request("GET", "/api/v1/tail?" + urllib.parse.urlencode(params),
                           headers=headers)
        self._response = self._conn.getresponse()
        assert self._response.status == 200
        assert (self._response.getheader("content-type") or "").startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.ready.wait(10)

    def _read(self) -> None:
        event, id_, data = "message", None, None
        try:
            while raw := self._response.readline():
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("id: "):
                    id_ = int(line[4:])
                elif line.startswith("data: "):
                    data = orjson.loads(line[6:])
                elif line == "" and data is not None:
                    self.messages.append((event, id_, data))
                    if event == "ready":
                        self.ready.set()
                    event, id_, data = "message", None, None
        except OSError:
            pass  # closed by the test

    def events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [d for e, _, d in self.messages if e == "message"]
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return [d for e, _, d in self.messages if e == "message"]

    def close(self) -> None:
        """Hang up (shutdown wakes the reading thread; the server sees the stream end)."""
        if self._conn.sock is not None:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._response.close()
        self._conn.close()


@pytest.fixture
def server(server_factory: Any) -> Iterator[Any]:
    s = server_factory().start()
    yield s
    s.stop()


def post(url: str, events: list[dict[str, Any]]) -> list[int]:
    r = httpx.post(url + "/api/v1/events", json=events,
                   headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    return ids


def now_event(message: str, kind: str = "error") -> dict[str, Any]:
    base: dict[str, Any] = {"kind": kind, "instant": int(time.time() * 1000), "message": message}
    return {**base, "module_name": "shop"} if kind == "error" else base


@pytest.mark.slow
def test_tail_streams_new_matching_events_and_resumes(server: Any) -> None:
    (old,) = post(server.url, [now_event("before the stream")])
    stream = Stream(server.url, {"kind": "error", "message": "*live*"})
    assert stream.messages[0][:2] == ("ready", old)
    began = time.monotonic()
    ids = post(server.url, [now_event("live one"), now_event("not matching"),
                            now_event("live but general", kind="general")])
    got = stream.events(1)
    assert [e["id"] for e in got] == [ids[0]] and got[0]["message"] == "live one"
    assert time.monotonic() - began < 2.0  # "within a second", with room for a slow machine
    stream.close()
    missed = post(server.url, [now_event("live while away"), now_event("live again")])
    resumed = Stream(server.url, {"kind": "error", "message": "*live*"}, last_id=ids[0])
    assert [e["id"] for e in resumed.events(2)] == missed
    time.sleep(0.7)  # more polls: nothing is sent twice
    assert [e["id"] for e in resumed.events(2)] == missed
    resumed.close()
    from_the_future = Stream(server.url, {}, last_id=10**12)  # a store that was reset
    assert from_the_future.messages[0][:2] == ("ready", missed[-1])
    from_the_future.close()
