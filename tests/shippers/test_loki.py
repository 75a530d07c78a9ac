"""Loki push with the real ``python-logging-loki`` handler (JSON), and snappy protobuf
pushes built from Loki's own ``push.proto`` compiled here with grpcio-tools (so the
server's hand-built descriptor is checked against the schema, not against itself)."""

from __future__ import annotations

import gzip
import importlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

import cramjam
import httpx
import logging_loki
import orjson
import pytest
from grpc_tools import protoc

from tests.shippers.conftest import Live

# pkg/push/push.proto of grafana/loki, without its gogoproto options.
PUSH_PROTO = """syntax = "proto3";
package logproto;
import "google/protobuf/timestamp.proto";
message PushRequest { repeated StreamAdapter streams = 1; }
message PushResponse {}
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
message LabelPairAdapter { string name = 1; string value = 2; }
message EntryAdapter {
  google.protobuf.Timestamp timestamp = 1;
  string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3;
}
"""


@pytest.fixture(scope="module")
def push_pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("lokiproto")
    (out / "loki_push.proto").write_text(PUSH_PROTO)
    include = str(Path(protoc.__file__).parent / "_proto")
    rc = protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}",
                      str(out / "loki_push.proto")])
    assert rc == 0
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("loki_push_pb2")
    finally:
        sys.path.remove(str(out))


def test_python_logging_loki(live: Live) -> None:
    handler = logging_loki.LokiHandler(url=live.url + "/loki/api/v1/push", version="1",
                                       tags={"app": "billing", "env": "prod"},
                                       auth=("tenant-1", live.key()))
    logger = logging.getLogger("loki-test")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("loki handler line", extra={"tags": {"host": "db-2"}})
        logger.error("loki handler error")
    finally:
        logger.removeHandler(handler)
    events = live.events(q="loki handler")
    assert [e["message"] for e in events] == ["loki handler line", "loki handler error"]
    first = events[0]
    assert (first["module_name"], first["src"], first["message_type"]) == \
        ("billing", "db-2", "Warning")
    assert first["attributes"]["env"] == "prod" and first["attributes"]["logger"] == "loki-test"
    assert abs(first["instant"] - first["insert_instant"]) < 60_000


def test_protobuf_push_with_metadata_and_a_wrong_clock(live: Live, push_pb2: Any) -> None:
    now_ns = time.time_ns() // 10**6 * 10**6 + 123_456  # not a whole millisecond
    req = push_pb2.PushRequest()
    s = req.streams.add(labels='{service_name="checkout", level="error", pod="p-1", '
                               'quote="say \\"hi\\""}')
    for i, ns in enumerate([now_ns, now_ns - 123_456, 1_900_000_000 * 10**9 + 7]):
        e = s.entries.add(line=f"proto line {i}")
        e.timestamp.seconds, e.timestamp.nanos = divmod(ns, 10**9)
        if i == 0:
            e.structuredMetadata.add(name="trace_id", value="tr-42")
            e.structuredMetadata.add(name="user", value="u1")
    body = cramjam.snappy.compress_raw(req.SerializeToString())
    r = httpx.post(live.url + "/loki/api/v1/push", content=bytes(body), timeout=10,
                   headers={"Content-Type": "application/x-protobuf",
                            "Authorization": f"Bearer {live.key()}"})
    assert r.status_code == 204, r.text
    events = live.events(q="proto line")
    assert [e["message"] for e in events] == ["proto line 0", "proto line 1", "proto line 2"]
    first, whole_ms, future = events
    assert first["instant"] == whole_ms["instant"] == now_ns // 10**6
    assert (first["module_name"], first["message_type"], first["request_key"]) == \
        ("checkout", "Error", "tr-42")
    # The nanoseconds below the stored millisecond are kept, as text (no float rounding).
    assert first["attributes"] == {"pod": "p-1", "quote": 'say "hi"', "user": "u1",
                                   "timestamp_ns": str(now_ns)}
    assert whole_ms["attributes"] == {"pod": "p-1", "quote": 'say "hi"'}
    assert future["attributes"] == {"pod": "p-1", "quote": 'say "hi"',
                                    "original_timestamp": str(1_900_000_000 * 10**9 + 7)}
    assert abs(future["instant"] - future["insert_instant"]) < 60_000


def test_json_gzip_partial_and_bad_bodies(live: Live) -> None:
    h = {"Authorization": f"Bearer {live.key()}", "Content-Type": "application/json"}
    push = {"streams": [{"stream": {"job": "cron"}, "values": [
        [str(time.time_ns()), "gz kept"], ["yesterday", "gz bad time"],
        [str(time.time_ns()), "x" * 70_000], [str(time.time_ns()), "gz meta", {"k": "v"}]]}]}
    r = httpx.post(live.url + "/loki/api/v1/push", content=gzip.compress(orjson.dumps(push)),
                   headers={**h, "Content-Encoding": "gzip"}, timeout=10)
    # Loki answers errors as plain text (what Promtail and Alloy log): so does logcycle.
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("2 of 4 lines rejected (2 stored): line 1: ")
    assert "; line 2: " in r.text
    assert [e["message"] for e in live.events(q="gz ")] == ["gz kept", "gz meta"]
    for content, ctype, want in [(b"{", "application/json", 400),
                                 (b'{"streams": 1}', "application/json", 400),
                                 (b"not snappy", "application/x-protobuf", 400),
                                 (b"x", "text/plain", 415)]:
        r = httpx.post(live.url + "/loki/api/v1/push", content=content, timeout=10,
                       headers={**h, "Content-Type": ctype})
        assert r.status_code == want, (content, r.text)
        assert r.headers["content-type"].startswith("text/plain") and r.text.strip()
    bomb = cramjam.snappy.compress_raw(b"\0" * (9 * 1024 * 1024))
    r = httpx.post(live.url + "/loki/api/v1/push", content=bytes(bomb), timeout=10,
                   headers={**h, "Content-Type": "application/x-protobuf"})
    assert r.status_code == 413 and "larger than the limit" in r.text
    no_key = httpx.post(live.url + "/loki/api/v1/push", json=push, timeout=10)
    assert no_key.status_code == 401
