"""The request_key index built behind the writer: exact before, during and after reindex."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.ingest.tasks import Reindex
from logcycle.service import Service
from tests.conftest import error_event


def keys_of(client: TestClient, key: str) -> list[int]:
    tree = client.get(f"/api/v1/requests/{key}")
    if tree.status_code == 404:
        return []
    body: dict[str, Any] = tree.json()
    ids = [e["id"] for e in body["top_level"] + body["drill"]]
    listed = [e["id"] for e in client.get("/api/v1/events", params={"request_key": key}).json()
              ["events"]]
    assert sorted(ids) == sorted(listed)
    return sorted(ids)


def test_lookups_see_indexed_and_unindexed_rows(client: TestClient, service: Service) -> None:
    a = client.post("/api/v1/events", json=[error_event(i, request_key=f"k{i % 3}")
                                            for i in range(9)]).json()["ids"]
    service.writer.submit_wait(Reindex())
    b = client.post("/api/v1/events", json=[error_event(i, request_key=f"k{i % 3}")
                                            for i in range(9)]).json()["ids"]
    expected = sorted(x for i, x in enumerate(a + b) if i % 3 == 1)
    assert keys_of(client, "k1") == expected
    service.writer.submit_wait(Reindex())
    assert keys_of(client, "k1") == expected
    assert service.writer.submit_wait(Reindex()) == 0  # nothing new to index


def test_rotation_empties_the_index_with_its_tables(client: TestClient, service: Service,
                                                    clock: ManualClock) -> None:
    client.post("/api/v1/events", json=[error_event(1, request_key="old")])
    service.writer.submit_wait(Reindex())
    clock.advance(10 * WEEK_MS)  # the same cycle comes round again: its tables are emptied
    client.post("/api/v1/events", json=[error_event(2, request_key="new")])
    service.writer.submit_wait(Reindex())
    assert keys_of(client, "old") == []
    assert len(keys_of(client, "new")) == 1
