"""Read threads and live-tail slots shared fairly between keys; deep sorted Event Log
pages refused with a clear 400 (issue 16, weak spot "read fairness")."""

from __future__ import annotations

import asyncio
import threading

import pytest
from starlette.testclient import TestClient

from logcycle.api.auth import Principal
from logcycle.api.tail import MAX_TAILS_PER_KEY, TailSlots
from logcycle.errors import Overloaded
from logcycle.query.scope import Reader
from logcycle.service import Service

A, B = Principal("key-a", "read"), Principal("key-b", "read")


def test_one_keys_heavy_queries_leave_threads_for_another_key(service: Service) -> None:
    """20 queries of key A that do not end until released hold at most reads-per-key
    threads; key B's query runs at once on the one left."""
    assert service.settings.read_threads == 4
    assert service.settings.effective_reads_per_key == 3
    release = threading.Event()
    started: list[int] = []

    def heavy(reader: Reader, i: int) -> int:
        started.append(i)
        assert release.wait(30)
        return i

    def quick(reader: Reader) -> str:
        return "answered"

    async def run() -> None:
        heavies = [asyncio.ensure_future(service.read(A, heavy, i)) for i in range(20)]
        await asyncio.sleep(0.2)
        assert len(started) == 3  # the others wait without a thread
        assert service.read_slots.running("key-a") == 20
        answer = await asyncio.wait_for(service.read(B, quick), timeout=5)
        assert answer == "answered"
        release.set()
        assert sorted(await asyncio.gather(*heavies)) == list(range(20))
        assert service.read_slots.running("key-a") == 0

    try:
        asyncio.run(run())
    finally:
        release.set()
        service.close()


def test_a_key_with_too_many_queries_waiting_gets_503(service: Service) -> None:
    release = threading.Event()

    def blocked(reader: Reader) -> None:
        release.wait(30)

    async def run() -> None:
        tasks = [asyncio.ensure_future(service.read(A, blocked)) for _ in range(3 + 64)]
        await asyncio.sleep(0.1)
        with pytest.raises(Overloaded) as exc:
            await service.read(A, blocked)
        assert "queries running or waiting" in exc.value.message
        release.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(run())
    finally:
        release.set()
        service.close()


def test_live_tail_slots_are_shared_between_keys() -> None:
    slots = TailSlots(32)
    assert all(slots.acquire("key-a") is None for _ in range(MAX_TAILS_PER_KEY))
    assert "this key has 8 live tails" in (slots.acquire("key-a") or "")
    assert slots.acquire("key-b") is None
    slots.release("key-a")
    assert slots.acquire("key-a") is None


def test_deep_event_log_pages_are_refused(client: TestClient) -> None:
    search = "/api/system/event-log/search"
    r = client.get(search, params={"orderBy": "message ASC", "startRow": "100000"})
    assert r.status_code == 400
    [err] = r.json()["fieldErrors"]["startRow"]
    assert "between 0 and 10000" in err["message"] and "start/end" in err["message"]
    assert client.get(search, params={"orderBy": "message ASC",
                                      "startRow": "10000"}).status_code == 200
    r = client.post(search, json={"search": {"orderBy": "type", "startRow": 10001}})
    assert r.status_code == 400
