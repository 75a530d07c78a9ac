"""Seq ingestion with the real ``seqlog`` handler, in both of its formats (Seq's JSON on
``/api/events/raw`` and CLEF on ``/ingest/clef``), and raw CLEF bodies."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from seqlog.feature_flags import FeatureFlag, configure_feature
from seqlog.structured_logging import SeqLogHandler, StructuredLogger

from tests.shippers.conftest import Live


@pytest.fixture(params=[False, True], ids=["seq-json", "clef"])
def use_clef(request: pytest.FixtureRequest) -> Iterator[bool]:
    configure_feature(FeatureFlag.USE_CLEF, request.param)
    yield bool(request.param)
    configure_feature(FeatureFlag.USE_CLEF, False)


def wait_for(live: Live, q: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        events = live.events(q=q)
        if len(events) >= n or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_seqlog_handler(live: Live, use_clef: bool) -> None:
    handler = SeqLogHandler(live.url, api_key=live.key(), batch_size=10,
                            auto_flush_timeout=0.1)
    handler.setFormatter(logging.Formatter())  # as seqlog.log_to_seq sets up
    logger = StructuredLogger("shop.payments")
    logger.addHandler(handler)
    try:
        logger.info("seqlog paid {Amount} for {Order}", Amount=12.5, Order="o-9")
        try:
            raise ValueError("card declined")
        except ValueError:
            logger.exception("seqlog payment failed for {Order}", Order="o-10")
        handler.flush()
        events = wait_for(live, "seqlog ", 2)
    finally:
        handler.close()
    assert [e["message"] for e in events] == ["seqlog paid 12.5 for o-9",
                                              "seqlog payment failed for o-10"]
    paid, failed = events
    assert paid["message_type"] == "Information" and failed["message_type"] == "Error"
    assert paid["attributes"]["Order"] == "o-9"
    assert paid["attributes"]["message_template"] == "seqlog paid {Amount} for {Order}"
    assert abs(paid["instant"] - paid["insert_instant"]) < 60_000
    errors = httpx.get(live.url + "/api/v1/events", params={"kind": "error", "q": "card"},
                       headers={"Authorization": "test-admin-key"}).json()["events"]
    assert len(errors) == 1 and errors[0]["message"] == "ValueError: card declined"
    assert "Traceback" in errors[0]["detail"]


def test_raw_clef_partial_and_x_seq_apikey(live: Live) -> None:
    body = "\n".join([
        '{"@t":"2026-01-01T00:00:00Z","@mt":"clef {User} in","User":"ann","@l":"Warning",'
        '"@i":"a1b2","@tr":"trace-1","SourceContext":"auth","@@odd":1}',
        "not json",
        '{"@t":"2031-01-01T00:00:00Z","@m":"clef from the future"}',
        "",
    ]).encode()
    for path in ("/api/events/raw?clef", "/ingest/clef"):
        r = httpx.post(live.url + path, content=body, timeout=10,
                       headers={"X-Seq-ApiKey": live.key(),
                                "Content-Type": "application/vnd.serilog.clef"})
        assert r.status_code == 400, r.text
        # Seq's own error shape: {"Error": "..."}.
        assert list(r.json()) == ["Error"]
        assert r.json()["Error"].startswith("1 of 3 events rejected (2 stored): event 1: ")
    events = live.events(q="clef ")
    assert len(events) == 4
    user, future = events[0], events[1]
    assert user["instant"] == 1_767_225_600_000
    assert (user["message"], user["message_type"], user["module_name"], user["request_key"]) \
        == ("clef ann in", "Warning", "auth", "trace-1")
    assert user["attributes"] == {"User": "ann", "event_id": "a1b2", "@odd": 1,
                                  "message_template": "clef {User} in"}
    assert future["attributes"] == {"original_timestamp": "2031-01-01T00:00:00Z"}
    ok = httpx.post(live.url + "/api/events/raw", timeout=10, headers={"X-Seq-ApiKey":
                                                                        live.key()},
                    json={"Events": [{"Timestamp": "2026-01-01 10:00:00+01:00",
                                      "Level": "Debug", "MessageTemplate": "json {N}",
                                      "Properties": {"N": 1}}]})
    assert ok.status_code == 201 and ok.json() == {"MinimumLevelAccepted": None}
    (stored,) = live.events(q="json 1")
    assert stored["message_type"] == "Debug" and stored["instant"] == 1_767_258_000_000
    assert httpx.post(live.url + "/ingest/clef", content=b"{}").status_code == 401
    bad = httpx.post(live.url + "/api/events/raw", content=b'{"Events": 1}', timeout=10,
                     headers={"X-Seq-ApiKey": live.key()})
    assert bad.status_code == 400 and bad.json() == {
        "Error": 'the body must be {"Events": [...]} (or CLEF with ?clef)'}
    reader = httpx.post(live.url + "/ingest/clef", content=b'{"@m":"x"}', timeout=10,
                        headers={"X-Seq-ApiKey": live.key("read")})
    assert reader.status_code == 403 and "ingest" in reader.json()["Error"]
    assert httpx.post(live.url + "/api/events/raw", content=b"[]",
                      headers={"X-Seq-ApiKey": live.key()}).status_code == 400
