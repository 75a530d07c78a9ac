"""Shippers retry whole requests when an answer is lost; each event must still be stored
once. Elasticsearch: a document's ``_id`` is its idempotency key (the real
``elasticsearch`` client retrying a request whose commit succeeded but whose answer
failed, injected with LOGCYCLE_FAULT_FILE). Loki and Seq: an identical body (every record
timed) or the same ``Idempotency-Key`` header is one request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch
from elasticsearch import helpers as es_helpers

from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN
from tests.shippers.conftest import Live, serve_in_thread


@pytest.fixture
def flaky(live_settings: Settings, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Live, Path]]:
    trigger = tmp_path / "fault"
    monkeypatch.setenv("LOGCYCLE_FAULT_FILE", str(trigger))
    for live in serve_in_thread(Service(live_settings, bootstrap_key=ADMIN)):
        yield live, trigger


def counts(live: Live, q: str) -> Counter[str]:
    return Counter(e["message"] for e in live.events(q=q))


def test_es_retry_after_a_lost_answer_stores_each_document_once(
        flaky: tuple[Live, Path]) -> None:
    live, trigger = flaky
    es = Elasticsearch(live.url + "/es", api_key=("shipper", live.key()), request_timeout=10)
    docs = [{"_index": "shop", "_id": f"doc-{i}", "message": f"retried {i}"} for i in range(3)]
    # The first attempt commits, then its answer fails (503); the client retries the
    # whole request, which is answered per document as Elasticsearch answers a second
    # `index` of the same _id: 200 "updated".
    trigger.write_text("ioerr-after-commit once")
    ok, errors = es_helpers.bulk(es, docs)
    assert not trigger.exists(), "the injected fault did not happen"
    assert (ok, errors) == (3, [])
    assert counts(live, "retried") == {"retried 0": 1, "retried 1": 1, "retried 2": 1}
    es.close()


def test_es_create_of_a_stored_id_is_a_conflict_and_the_others_are_stored(live: Live) -> None:
    es = Elasticsearch(live.url + "/es", api_key=("shipper", live.key()), request_timeout=10)
    first = [{"_op_type": "create", "_index": "shop", "_id": "a", "message": "idem a"}]
    assert es_helpers.bulk(es, first) == (1, [])
    again = [
        {"_op_type": "create", "_index": "shop", "_id": "a", "message": "idem a again"},
        {"_op_type": "create", "_index": "shop", "_id": "b", "message": "idem b"},
        {"_op_type": "create", "_index": "shop", "_id": "b", "message": "idem b twice"},
        {"_op_type": "create", "_index": "other", "_id": "a", "message": "idem other a"},
        {"_op_type": "create", "_index": "shop", "message": "idem no id"},
        {"_op_type": "index", "_index": "shop", "_id": "a", "message": "idem index a"},
    ]
    ok, errors = es_helpers.bulk(es, again, raise_on_error=False)
    assert ok == 4
    assert isinstance(errors, list)
    conflicts = [e["create"] for e in errors]
    assert [(c["_id"], c["status"], c["error"]["type"]) for c in conflicts] == [
        ("a", 409, "version_conflict_engine_exception"),
        ("b", 409, "version_conflict_engine_exception")]
    assert counts(live, "idem") == {"idem a": 1, "idem b": 1, "idem other a": 1,
                                    "idem no id": 1}
    raw = httpx.post(live.url + "/es/_bulk", timeout=10,
                     headers={"Authorization": f"Bearer {live.key('admin')}",
                              "Content-Type": "application/x-ndjson"},
                     content=b'{"index":{"_index":"shop","_id":"a"}}\n{"message":"idem x"}\n'
                             b'{"create":{"_index":"shop","_id":""}}\n{"message":"idem y"}\n')
    body = raw.json()
    # Another key's documents are its own: its _id "a" is new.
    assert [(i[a]["status"], i[a].get("result")) for i, a in
            zip(body["items"], ("index", "create"), strict=True)] == [(201, "created"),
                                                                      (400, None)]
    assert "_id" in body["items"][1]["create"]["error"]["reason"]
    es.close()


def loki_push(live: Live, key: str, lines: list[str], **headers: str) -> httpx.Response:
    ns = time.time_ns()
    push = {"streams": [{"stream": {"job": "retry"},
                         "values": [[str(ns + i), line] for i, line in enumerate(lines)]}]}
    return httpx.post(live.url + "/loki/api/v1/push", content=orjson.dumps(push), timeout=10,
                      headers={"Authorization": f"Bearer {key}",
                               "Content-Type": "application/json", **headers})


def test_loki_identical_body_and_idempotency_key(live: Live) -> None:
    key = live.key()
    ns = time.time_ns()
    body = orjson.dumps({"streams": [{"stream": {"job": "retry"}, "values": [
        [str(ns), "loki same 1"], [str(ns + 1), "loki same 2"]]}]})
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for _ in range(2):
        r = httpx.post(live.url + "/loki/api/v1/push", content=body, headers=h, timeout=10)
        assert r.status_code == 204, r.text
    assert counts(live, "loki same") == {"loki same 1": 1, "loki same 2": 1}
    # The same lines at another time are new lines.
    assert loki_push(live, key, ["loki same 1"]).status_code == 204
    assert counts(live, "loki same") == {"loki same 1": 2, "loki same 2": 1}
    # A client's Idempotency-Key: the second request of that key stores nothing.
    for line in ("loki keyed 1", "loki keyed 2"):
        assert loki_push(live, key, [line], **{"Idempotency-Key": "batch-7"}).status_code \
            == 204
    assert counts(live, "loki keyed") == {"loki keyed 1": 1}


def test_seq_identical_timed_body_once_untimed_twice(live: Live) -> None:
    h = {"X-Seq-ApiKey": live.key(), "Content-Type": "application/vnd.serilog.clef"}
    timed = (b'{"@t":"2026-12-01T10:00:00.1234567Z","@m":"seq timed 1"}\n'
             b'{"@t":"2026-12-01T10:00:00.1234568Z","@m":"seq timed 2"}\n')
    untimed = b'{"@m":"seq untimed"}\n'
    for _ in range(2):
        for body in (timed, untimed):
            r = httpx.post(live.url + "/ingest/clef", content=body, headers=h, timeout=10)
            assert r.status_code == 201, r.text
    assert counts(live, "seq timed") == {"seq timed 1": 1, "seq timed 2": 1}
    # Without times the events are told apart by nothing: a second body is new events.
    assert counts(live, "seq untimed") == {"seq untimed": 2}
    seq_json = {"Events": [{"Timestamp": "2026-12-01T10:00:00Z", "MessageTemplate": "seq j"}]}
    for _ in range(2):
        r = httpx.post(live.url + "/api/events/raw", json=seq_json, timeout=10,
                       headers={"X-Seq-ApiKey": h["X-Seq-ApiKey"]})
        assert r.status_code == 201, r.text
    assert counts(live, "seq j") == {"seq j": 1}


def test_es_many_ids_in_one_request(live: Live) -> None:
    """More _ids than one lookup statement takes (500): every one is found again."""
    body = b"".join(b'{"create":{"_index":"many","_id":"m-%d"}}\n{"message":"many %d"}\n'
                    % (i, i) for i in range(1_200))
    h = {"Authorization": f"Bearer {live.key()}", "Content-Type": "application/x-ndjson"}
    first = httpx.post(live.url + "/es/_bulk", content=body, headers=h, timeout=30).json()
    again = httpx.post(live.url + "/es/_bulk", content=body, headers=h, timeout=30).json()
    assert not first["errors"] and again["errors"]
    assert {i["create"]["status"] for i in first["items"]} == {201}
    assert {i["create"]["status"] for i in again["items"]} == {409}
    assert [i["create"]["_id"] for i in again["items"]] == [f"m-{i}" for i in range(1_200)]
    r = httpx.get(live.url + "/api/v1/stats", headers={"Authorization": ADMIN}, timeout=10,
                  params={"query": "many", "metrics": "count"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0]["count"] == 1_200


def test_concurrent_requests_with_one_id_store_it_once(live: Live) -> None:
    """The same _id from 8 requests at once (on PostgreSQL, overlapping groups of several
    writer lanes): one 201, every other create a 409 (or a 503 to retry, when it met the
    other one's key still uncommitted), one event."""
    h = {"Authorization": f"Bearer {live.key()}", "Content-Type": "application/x-ndjson"}
    body = b'{"create":{"_index":"race","_id":"same"}}\n{"message":"race same"}\n'
    statuses: list[int] = []

    def send() -> None:
        for _ in range(20):  # bounded: a 503 is retried as shippers do
            r = httpx.post(live.url + "/es/_bulk", content=body, headers=h, timeout=30)
            if r.status_code != 503:
                statuses.append(r.json()["items"][0]["create"]["status"])
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201] + [409] * 7
    assert counts(live, "race same") == {"race same": 1}


def test_loki_and_seq_retry_after_a_lost_answer(flaky: tuple[Live, Path]) -> None:
    live, trigger = flaky
    key = live.key()
    ns = time.time_ns()
    loki = orjson.dumps({"streams": [{"stream": {"job": "lost"}, "values": [
        [str(ns), "lost loki 1"], [str(ns + 1), "lost loki 2"]]}]})
    clef = b'{"@t":"2026-12-01T10:00:00.5Z","@m":"lost seq"}\n'
    for path, body, ctype, ok in (("/loki/api/v1/push", loki, "application/json", 204),
                                  ("/ingest/clef", clef, "application/vnd.serilog.clef", 201)):
        trigger.write_text("ioerr-after-commit once")
        h = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
        lost = httpx.post(live.url + path, content=body, headers=h, timeout=10)
        assert lost.status_code == 503 and not trigger.exists()  # committed, answer lost
        retry = httpx.post(live.url + path, content=body, headers=h, timeout=10)
        assert retry.status_code == ok, retry.text
    assert counts(live, "lost") == {"lost loki 1": 1, "lost loki 2": 1, "lost seq": 1}
