"""One request cannot fail the others' writes (issue 16, broken 2).

What one task can fail on is a 400 at validation (records' values, column names that are
SQL keywords or system columns); and should a task still fail inside a shared group
commit, the writer retries the group without it, so that only it fails, with a 4xx.
Both stores, real concurrent clients."""

from __future__ import annotations

import concurrent.futures
import json  # the stdlib writes integers past 64 bits, which orjson (rightly) refuses
import threading
from typing import Any

import msgspec
import orjson
import pytest
from starlette.testclient import TestClient

from logcycle.errors import Unwritable
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch
from logcycle.service import Service
from tests.conftest import T0, error_event

_decoder = BatchDecoder(max_future_ms=10**12, max_batch=100_000)
# https://sqlite.org/lang_keywords.html (SQLite 3.40: all 147).
SQLITE_KEYWORDS = """abort action add after all alter always analyze and as asc attach autoincrement
before begin between by cascade case cast check collate column commit conflict
constraint create cross current current_date current_time current_timestamp database
default deferrable deferred delete desc detach distinct do drop each else end escape
except exclude exclusive exists explain fail filter first following for foreign from
full generated glob group groups having if ignore immediate in index indexed
initially inner insert instead intersect into is isnull join key last left like
limit match materialized natural no not nothing notnull null nulls of offset on or
order others outer over partition plan pragma preceding primary query raise range
recursive references regexp reindex release rename replace restrict returning right
rollback row rows savepoint select set table temp temporary then ties to transaction
trigger unbounded union unique update using vacuum values view virtual when where
window with without""".split()  # noqa: SIM905  # the list as the page prints it


def poisoned() -> EventBatch:
    """A batch that passed validation and still cannot be stored: its ``instant`` was
    altered afterwards past 64 bits (SQLite: OverflowError while binding; PostgreSQL:
    bigint out of range), as any value the checks missed would be."""
    batch = events(-1, 3)
    bad = batch.events[1]
    batch.events[1] = msgspec.structs.replace(bad, values=(10**30, *bad.values[1:]))
    return batch


def events(i: int, n: int = 5) -> EventBatch:
    body = orjson.dumps([{"kind": "general", "instant": T0, "message": f"b{i} e{j}"}
                         for j in range(n)])
    return EventBatch(_decoder.decode_json(body, now_ms=T0).events, None, "p", scope=ALL)


def keywords(service: Service) -> list[str]:
    words = set(SQLITE_KEYWORDS)
    if service.store.dialect.name == "postgresql":
        _, rows = service.store.fetch("SELECT word FROM pg_get_keywords()", ())
        words |= {str(w) for (w,) in rows}
    return sorted(w for w in words if w not in ("id", "insert_instant", "data"))


def test_a_poisoned_task_fails_alone_in_its_group(service: Service) -> None:
    """Tasks queued before the writer starts share groups; one holds a value the database
    cannot take (past the route's checks): only it fails, with a 400, not retryable."""
    service.open()  # the writer is not started yet: everything queues
    good = [service.writer.submit_future(events(i)) for i in range(60)]
    bad = service.writer.submit_future(poisoned())
    good += [service.writer.submit_future(events(i)) for i in range(60, 120)]
    service.start()
    ids = [i for f in good for i in f.result(timeout=60)]
    assert len(ids) == len(set(ids)) == 600
    with pytest.raises(Unwritable) as exc:
        bad.result(timeout=60)
    assert exc.value.status == 400 and "retry" not in exc.value.message
    assert service.writer.commits < 121, "the tasks did not share groups"
    _, rows = service.store.fetch("SELECT count(*) FROM oslog_general", ())
    assert rows == [(600,)]


def test_many_clients_and_poisoned_requests(client: TestClient, service: Service) -> None:
    """Concurrent clients posting batches while others send what used to fail the shared
    commit: every good batch gets 200, each poisoned request its own 400."""
    assert client.put("/api/v1/entities/orders", json={"columns": {
        "amount": "real", "n": "integer", "select": "text"}}).status_code == 200
    statuses: list[int] = []
    lock = threading.Lock()

    def good(k: int) -> None:
        for i in range(15):
            r = client.post("/api/v1/events", json=[error_event(k * 100 + i + j)
                                                    for j in range(20)])
            with lock:
                statuses.append(r.status_code)

    poisons: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/records/orders", {"note": 10**30}),
        ("POST", "/api/v1/records/orders", [{"n": 1}, {"n": 2**64}]),
        ("POST", "/api/v1/records/orders", {"amount": 10**400}),
        ("PUT", "/api/v1/entities/sys", {"columns": {"xmin": "text"}}),
        ("PUT", "/api/v1/entities/sys", {"columns": {"ctid": "integer"}}),
    ] * 4

    def poison(item: tuple[str, str, Any]) -> tuple[int, bytes]:
        method, path, body = item
        r = client.request(method, path, content=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        return r.status_code, r.content

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        goods = [pool.submit(good, k) for k in range(8)]
        bads = [pool.submit(poison, item) for item in poisons]
        for f in goods:
            f.result()
        answers = [f.result() for f in bads]
    assert statuses == [200] * 120
    assert all(status == 400 for status, _ in answers), answers
    assert all(b"retry" not in body for _, body in answers), answers
    r = client.post("/api/v1/records/orders", json={"select": "a keyword column", "n": 7})
    assert r.status_code == 200, r.text
    listed = client.get("/api/v1/records/orders").json()["records"]
    assert [x["record"] for x in listed] == [{"select": "a keyword column", "n": 7}]


def test_columns_named_after_every_keyword(client: TestClient, service: Service) -> None:
    """Every SQLite keyword (and on PostgreSQL every one of pg_get_keywords()) is a column
    name that works: declared, written, read back."""
    words = keywords(service)
    for n, start in enumerate(range(0, len(words), 100)):
        chunk = words[start:start + 100]
        r = client.put(f"/api/v1/entities/kw{n}",
                       json={"columns": {w: "text" if i % 2 else "integer"
                                         for i, w in enumerate(chunk)}})
        assert r.status_code == 200, r.text
        record = {w: (f"v-{w}" if i % 2 else i) for i, w in enumerate(chunk)}
        r = client.post(f"/api/v1/records/kw{n}", json=record)
        assert r.status_code == 200, r.text
        assert client.get(f"/api/v1/records/kw{n}").json()["records"][0]["record"] == record
        table = f"record_kw{n}"
        _, rows = service.store.fetch(f'SELECT "{chunk[1]}" FROM {table}', ())
        assert rows == [(f"v-{chunk[1]}",)]
    for system in ("xmin", "ctid", "tableoid", "oid", "rowid"):
        r = client.put("/api/v1/entities/sys", json={"columns": {system: "text"}})
        assert r.status_code == 400 and system in r.text
