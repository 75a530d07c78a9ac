"""A refused batch names every invalid event (up to 100), for JSON arrays and NDJSON, and
nothing of it is stored (issue 17, docs item 5)."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from logcycle.service import Service
from tests.conftest import T0

OK = {"kind": "general", "instant": T0 - 1000, "message": "fine"}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"kind": "general", "message": "no instant"}, "instant"),
    ({"kind": "nope", "instant": T0}, "kind"),
    ({**OK, "instant": T0 + 10 * 86_400_000}, "instant"),  # too far in the future
    ({**OK, "attributes": {"n": 2**70}}, "attributes"),
    ({**OK, "unknown": 1}, "unknown"),
]


def _body(events: list[Any], ndjson: bool) -> tuple[str, dict[str, str]]:
    if ndjson:
        return "\n".join(json.dumps(e) for e in events), {"Content-Type": "application/x-ndjson"}
    return json.dumps(events), {"Content-Type": "application/json"}


def test_every_invalid_event_is_named(client: TestClient, service: Service) -> None:
    events: list[Any] = []
    want: list[tuple[int, str]] = []
    for bad, field in BAD:
        events += [OK, OK]
        want.append((len(events), field))
        events.append(bad)
    for ndjson in (False, True):
        body, headers = _body(events, ndjson)
        r = client.post("/api/v1/events", content=body, headers=headers)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert [(e["index"], e["field"]) for e in err["errors"]] == want
        assert "and 4 more invalid events" in err["message"]
    _, rows = service.store.fetch("SELECT count(*) FROM oslog_general", ())
    assert rows[0][0] == 0


def test_at_most_100_are_listed(client: TestClient) -> None:
    events = [{"kind": "general", "message": f"no instant {i}"} for i in range(500)]
    for ndjson in (False, True):
        body, headers = _body(events, ndjson)
        r = client.post("/api/v1/events", content=body, headers=headers)
        assert r.status_code == 400
        err = r.json()["error"]
        assert len(err["errors"]) == 100 and err["errors"][-1]["index"] == 99
        assert "the first 100 listed" in err["message"]


def test_a_line_that_is_not_json_is_named_among_the_others(client: TestClient) -> None:
    body = "\n".join([json.dumps(OK), "{not json", json.dumps({"kind": "general"})])
    r = client.post("/api/v1/events", content=body,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_json"
    assert [(e["index"], e["field"]) for e in err["errors"]] == [(1, "$"), (2, "instant")]
