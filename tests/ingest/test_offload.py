"""The protocol workers (ingest/offload.py): a worker's translation is the adapter's own
(rows, rejections, exceptions), a dead worker never fails a request, small bodies never
leave the event loop, and a real server's workers end with it, ``kill -9`` included."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from logcycle.clock import SystemClock
from logcycle.errors import BadRequest, TooLarge
from logcycle.ingest.decode import BatchDecoder, Prepared
from logcycle.ingest.offload import Offload
from logcycle.ingest.protocols import clef, es_bulk, loki, otlp_rows, rows, syslog
from logcycle.ingest.protocols.common import ClockRule
from tests.conftest import ADMIN, T0, free_port

CLOCK = ClockRule(now_ms=T0, max_future_ms=1000)
DECODER = BatchDecoder(max_future_ms=1000, max_batch=500)
LIMIT = rows.limit_of(DECODER, T0)
FIELDS = es_bulk.Fields.of("", "")


@pytest.fixture
def offload() -> Iterator[Offload]:
    o = Offload(1, SystemClock(), min_bytes=0)
    o.start()
    deadline = time.monotonic() + 30
    while not o.ready and time.monotonic() < deadline:
        time.sleep(0.02)
    assert o.ready, "the worker did not start"
    yield o
    o.close()


def es_body() -> bytes:
    lines = []
    for i in range(40):
        lines.append(b'{"create":{"_index":"web"}}')
        doc: Any = {"@timestamp": T0 - i, "message": f"doc {i}", "log.level": "warn",
                    "user": {"id": i}}
        if i == 7:
            doc = "not an object"
        if i == 9:
            doc = {"@timestamp": T0 + 10**9, "message": "a wrong clock"}
        lines.append(orjson.dumps(doc))
    lines.append(b'{"delete":{"_id":"x"}}')
    return b"\n".join(lines) + b"\n"


def clef_body() -> bytes:
    objs = [orjson.dumps({"@t": "2026-01-01T00:00:00.123Z", "@mt": "Paid {Amount}",
                          "Amount": i, "@l": "Error" if i % 2 else "Debug"})
            for i in range(30)]
    return b"\n".join([*objs, b"[1]", b"{broken", orjson.dumps({"@m": "x", "@x": "Boom"})])


def otlp_body(n: int = 20) -> bytes:
    req = ExportLogsServiceRequest()
    scope = req.resource_logs.add().scope_logs.add()
    for i in range(n):
        rec = scope.log_records.add(time_unix_nano=(T0 - i) * 1_000_000,
                                    body=AnyValue(string_value=f"otlp {i}"))
        rec.attributes.append(KeyValue(key="i", value=AnyValue(int_value=i)))
    return req.SerializeToString()


def syslog_frames() -> list[bytes]:
    return [b'<165>1 2025-11-30T10:00:00Z web-1 shop 42 ID7 [x@1 a="b"] paid',
            b"<999>1 - - - - - out of range", b"<13>Nov 30 10:00:00 host app[7]: bsd"]


CASES: dict[str, tuple[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]]] = {
    "es bulk": (es_bulk.parse_bulk, es_body(), (None, FIELDS, CLOCK, LIMIT), {}),
    "loki json": (loki.parse_json, orjson.dumps({"streams": [{
        "stream": {"app": "a"}, "values": [[str(T0 * 1_000_000), "line"], ["x", "bad"]]}]}),
        (CLOCK, LIMIT), {}),
    "clef": (clef.parse_clef, clef_body(), (CLOCK, LIMIT), {}),
    "seq json": (clef.parse_seq_json, orjson.dumps({"Events": [
        {"Timestamp": "2026-01-01T00:00:00Z", "MessageTemplate": "Hi {N}",
         "Properties": {"N": 1}}, 3]}), (CLOCK, LIMIT), {}),
    "syslog": (syslog.parse_all, syslog_frames(), (CLOCK, UTC, LIMIT), {}),
    "otlp protobuf": (otlp_rows.validated, otlp_body(), (DECODER,), {"now_ms": T0}),
    "otlp json": (otlp_rows.validated_json, json_format.MessageToJson(
        ExportLogsServiceRequest.FromString(otlp_body())).encode(), (DECODER,),
        {"now_ms": T0}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_worker_answers_what_the_adapter_answers_here(offload: Offload, name: str) -> None:
    fn, body, args, kwargs = CASES[name]
    here = fn(body, *args, **kwargs)
    there = asyncio.run(offload.run(fn, body, *args, **kwargs))
    assert offload.offloaded == 1 and offload.inline == 0
    assert there == here
    found = [it for it in _items(there) if type(it) is Prepared]
    assert found, "no row to compare"
    for mine, theirs in zip(found, (it for it in _items(here) if type(it) is Prepared),
                            strict=True):
        assert mine.kind is theirs.kind  # the same Kind object, not a copy


def _items(answer: Any) -> list[Any]:
    if isinstance(answer, es_bulk.BulkRequest):
        return answer.items
    if isinstance(answer, tuple):  # otlp_rows: (Partial, total)
        return list(answer[0].events)
    return list(answer)


def test_a_row_pickled_on_its_own_keeps_its_kind() -> None:
    """What an answer of another shape than the adapters' carries (rows as objects)."""
    row = es_bulk.parse_bulk(es_body(), None, FIELDS, CLOCK, LIMIT).items[0]
    assert type(row) is Prepared
    again = pickle.loads(pickle.dumps(row))  # noqa: S301  (our own bytes)
    assert again == row and again.kind is row.kind


@pytest.mark.parametrize(("fn", "body", "args", "kwargs", "error"), [
    (es_bulk.parse_bulk, b'{"create":{}}\n{oops\n{"nope":{}}\n{}\n', (None, FIELDS, CLOCK),
     {}, BadRequest),
    (otlp_rows.validated, otlp_body(501), (DECODER,), {"now_ms": T0}, TooLarge),
    (otlp_rows.validated, b"\xff\x00 not protobuf", (DECODER,), {"now_ms": T0}, BadRequest),
])
def test_a_workers_refusal_is_the_same_exception(offload: Offload, fn: Any, body: bytes,
                                                 args: Any, kwargs: Any,
                                                 error: type[BadRequest]) -> None:
    with pytest.raises(error) as here:
        fn(body, *args, **kwargs)
    with pytest.raises(error) as there:
        asyncio.run(offload.run(fn, body, *args, **kwargs))
    assert type(there.value) is type(here.value)
    assert (there.value.status, there.value.code, there.value.message, there.value.errors) == \
        (here.value.status, here.value.code, here.value.message, here.value.errors)


def test_a_dead_worker_fails_no_request_and_is_replaced(offload: Offload) -> None:
    fn, body, args, kwargs = CASES["clef"]
    want = fn(body, *args, **kwargs)
    assert offload._warm is not None
    os.kill(offload._warm.result(), signal.SIGKILL)
    time.sleep(0.2)
    assert asyncio.run(offload.run(fn, body, *args, **kwargs)) == want  # answered here
    assert offload.inline >= 1
    deadline = time.monotonic() + 30
    while offload.offloaded == 0 and time.monotonic() < deadline:
        assert asyncio.run(offload.run(fn, body, *args, **kwargs)) == want
        time.sleep(0.05)
    assert offload.offloaded >= 1, "no new worker took over"


def test_small_bodies_never_start_a_worker() -> None:
    o = Offload(1, SystemClock())  # the default threshold: 64 KiB
    fn, body, args, kwargs = CASES["es bulk"]
    assert len(body) < o.min_bytes
    assert asyncio.run(o.run(fn, body, *args, **kwargs)) == fn(body, *args, **kwargs)
    assert (o.offloaded, o.inline, o._pool) == (0, 0, None)
    assert asyncio.run(Offload(0, SystemClock(), min_bytes=0).run(
        fn, body, *args, **kwargs)) == fn(body, *args, **kwargs)


def test_after_close_everything_is_translated_here(offload: Offload) -> None:
    fn, body, args, kwargs = CASES["clef"]
    offload.close()
    assert asyncio.run(offload.run(fn, body, *args, **kwargs)) == fn(body, *args, **kwargs)
    offload.start()
    assert (offload.offloaded, offload.ready, offload._pool) == (0, False, None)


def _children(pid: int) -> set[int]:
    """The live descendants of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_a_servers_workers_translate_large_bodies_and_end_with_it(server_factory: Any) \
        -> None:
    port = free_port()
    server = server_factory("--syslog-tcp", str(port)).start()
    assert server.proc is not None
    auth = {"Authorization": ADMIN}
    deadline = time.monotonic() + 30
    while not httpx.get(server.url + "/api/v1/status", headers=auth,
                        timeout=10).json()["protocol_workers"]["ready"]:
        assert time.monotonic() < deadline, "the protocol worker did not start"
        time.sleep(0.05)
    docs = b"".join(b'{"create":{}}\n' + orjson.dumps({"message": f"big bulk {i}",
                                                       "pad": "x" * 60}) + b"\n"
                    for i in range(1000))
    assert len(docs) > 64 * 1024
    answer = httpx.post(server.url + "/es/_bulk", content=docs, headers=auth, timeout=30)
    assert answer.status_code == 200 and answer.json()["errors"] is False
    status = httpx.get(server.url + "/api/v1/status", headers=auth, timeout=10).json()
    assert status["protocol_workers"]["offloaded"] == 1
    # syslog: what each read of the connection holds goes to the worker when it is large
    frames = [f"<14>1 - host app - - - big syslog {i} {'y' * 80}".encode() for i in range(1000)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
    deadline = time.monotonic() + 30
    while _count(server.url, "big syslog") < 1000:
        assert time.monotonic() < deadline, "the syslog messages were not stored"
        time.sleep(0.1)
    assert _count(server.url, "big bulk") == 1000
    helpers = _children(server.proc.pid)
    assert helpers, "no worker process"
    server.kill()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in helpers if _alive(p)], "a worker outlived the killed server"


def _count(url: str, text: str) -> int:
    page = httpx.get(url + "/api/v1/events", params={"message": text, "limit": 1000},
                     headers={"Authorization": ADMIN}, timeout=10).json()
    return len(page["events"])
