"""The writer's lanes: one thread on SQLite, several on PostgreSQL (store.write_lanes),
all taking groups from one bounded queue; stop() commits everything queued."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import orjson

from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import ALL, EventBatch
from logcycle.service import Service
from tests.conftest import T0

_decoder = BatchDecoder(max_future_ms=10**12, max_batch=100_000)


def batch(i: int, n: int) -> EventBatch:
    body = orjson.dumps([{"kind": "general", "instant": T0, "message": f"b{i} e{j}"}
                         for j in range(n)])
    return EventBatch(_decoder.decode_json(body, now_ms=T0).events, None, "p", scope=ALL)


def test_lanes_share_the_queue_and_stop_commits_everything(service: Service) -> None:
    service.start()
    writer = service.writer
    assert writer.lanes == service.store.write_lanes
    assert writer.lanes == (3 if service.store.dialect.name == "postgresql" else 1)
    futures: list[concurrent.futures.Future[Any]] = []
    lock = threading.Lock()

    def submit(start: int) -> None:
        for i in range(start, start + 50):
            fut = writer.submit_future(batch(i, 1 + i % 40))
            with lock:
                futures.append(fut)

    threads = [threading.Thread(target=submit, args=(k * 50,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert not any(t.is_alive() for t in writer._threads)
    ids = [i for f in futures for i in f.result(timeout=0)]
    assert len(ids) == len(set(ids)) == sum(1 + i % 40 for i in range(200))
    _, rows = service.store.fetch("SELECT count(*) FROM oslog_general", ())
    assert rows == [(len(ids),)]
    assert writer.pending == 0 and writer.failures == 0


def test_write_lanes_default_to_about_two_writers_in_all() -> None:
    from logcycle.settings import Settings
    assert Settings().effective_write_lanes == 3
    assert Settings(workers=3).effective_write_lanes == 1
    assert Settings(workers=3, write_lanes=4).effective_write_lanes == 4
