"""An event that JSON can read but orjson cannot write again (nested past its 255 levels)
fails alone: the adapters hand their events over as dicts, written in one call, and when
that call fails each event is written on its own (``store_items``). The request's other
events are stored and answered as usual."""

from __future__ import annotations

import httpx
import orjson

from tests.shippers.conftest import Live

DEEP = b'{"a":' * 300 + b"1" + b"}" * 300  # orjson reads 1024 levels, writes 254


def test_es_bulk_deep_document_fails_alone(live: Live) -> None:
    body = b"\n".join([b'{"create":{}}', b'{"message":"deep one","x":' + DEEP + b"}",
                       b'{"create":{}}', b'{"message":"flat one"}']) + b"\n"
    r = httpx.post(live.url + "/es/_bulk", content=body, timeout=10,
                   headers={"Authorization": f"Bearer {live.key()}",
                            "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    first, second = (next(iter(i.values())) for i in r.json()["items"])
    assert first["status"] == 400
    assert first["error"]["reason"].startswith("cannot encode the event")
    assert second["status"] == 201
    assert [e["message"] for e in live.events(q="one")] == ["flat one"]


def test_clef_deep_property_fails_alone(live: Live) -> None:
    lines = [orjson.dumps({"@m": "clef fine", "@l": "Warning"}),
             b'{"@m":"clef deep","P":' + DEEP + b"}"]
    r = httpx.post(live.url + "/ingest/clef", content=b"\n".join(lines), timeout=10,
                   headers={"X-Seq-ApiKey": live.key(),
                            "Content-Type": "application/vnd.serilog.clef"})
    assert r.status_code == 400 and "event 1: cannot encode the event" in r.text, r.text
    (stored,) = live.events(q="clef")
    assert (stored["message"], stored["message_type"]) == ("clef fine", "Warning")
