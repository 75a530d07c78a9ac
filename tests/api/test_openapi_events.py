"""The OpenAPI document describes each kind's events (api/schemas.py, from kinds.py) and
the query grammar: the schemas take what the server takes and describe what it answers,
every field of kinds.py is in them, and the grammar is the one of query/lang.py and
docs/query.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from starlette.testclient import TestClient

from logcycle.kinds import KINDS
from logcycle.query import lang
from tests.conftest import T0

DOCS = Path(__file__).resolve().parents[2] / "docs"


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A validator of ``schema`` whose refs resolve in the document's components."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})


def body_schema(doc: dict[str, Any]) -> dict[str, Any]:
    op = doc["paths"]["/api/v1/events"]["post"]
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


def event_schema(doc: dict[str, Any]) -> dict[str, Any]:
    op = doc["paths"]["/api/v1/events/{id}"]["get"]
    schema: dict[str, Any] = op["responses"]["200"]["content"]["application/json"]["schema"]
    return schema


def test_every_kind_and_field_is_described(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    comps = doc["components"]["schemas"]
    assert [r["$ref"].rsplit("/", 1)[1] for r in body_schema(doc)["items"]["oneOf"]] == \
        [f"Event_{k}" for k in KINDS]
    assert body_schema(doc)["items"]["discriminator"]["propertyName"] == "kind"
    for name, kind in KINDS.items():
        sent, stored = comps[f"Event_{name}"], comps[f"StoredEvent_{name}"]
        assert set(sent["properties"]) == {"kind", "attributes", *(f.name for f in kind.fields)}
        assert sent["required"] == ["kind", *kind.required]
        tree = {"error"} if kind.has_error else set()  # in a request tree: the error carried
        assert set(stored["properties"]) == set(kind.columns) | {"kind"} | tree


def test_the_schemas_take_what_the_server_takes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    batch = validator(doc, body_schema(doc))
    events = orjson.loads(re.search(r"```json\n(.*?)```", (DOCS / "query.md").read_text(),
                                    re.S).group(1))  # type: ignore[union-attr]
    events.append({"kind": "general", "instant": T0, "message": "m", "msg": {"a": [1]},
                   "module_name": "shop",
                   "error": {"message": "inline", "detail": "trace"}})
    events.append({"kind": "request_event", "instant": T0, "request_key": "r9",
                   "request_event_name": "n", "module_key": "k", "module_name": "m",
                   "application_key": "a", "application_name": "b",
                   "request_event_details": {"x": 1}})
    assert batch.is_valid(events), list(batch.iter_errors(events))[:3]
    r = client.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    for bad in ([], [{"kind": "screen", "instant": T0}],  # required fields missing
                [{"kind": "error", "instant": T0, "module_name": "m", "message": "x",
                  "colour": "red"}],  # a field the kind does not have
                [{"kind": "nope", "instant": T0}],
                [{"kind": "screen", "instant": T0, "duration_ms": -1, "screen": "s",
                  "request_key": "r"}]):
        assert not batch.is_valid(bad), bad
        assert client.post("/api/v1/events", json=bad).status_code == 400, bad
    stored = validator(doc, event_schema(doc))
    for ev in client.get("/api/v1/events", params={"limit": 100}).json()["events"]:
        assert stored.is_valid(ev), (ev, list(stored.iter_errors(ev))[:3])
        assert client.get(f"/api/v1/events/{ev['id']}").json() == ev
    op = doc["paths"]["/api/v1/requests/{request_key}"]["get"]
    tree = validator(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
    for key in ("r1", "r3"):
        got = client.get(f"/api/v1/requests/{key}").json()
        assert got["count"] >= 2 and tree.is_valid(got), list(tree.iter_errors(got))[:3]
    events.append({"kind": "integration", "instant": T0, "duration_ms": 5, "is_expose": True,
                   "endpoint": "/pay", "request_key": "r7", "module_name": "shop",
                   "error": {"message": "declined"}})
    assert client.post("/api/v1/events", json=events[-1:]).status_code == 200
    got = client.get("/api/v1/requests/r7").json()
    assert got["top_level"][0]["error"]["message"] == "declined" and tree.is_valid(got)


@pytest.mark.parametrize("route", ["/api/v1/events", "/api/v1/stats", "/api/v1/histogram",
                                   "/api/v1/errors"])
def test_the_query_parameter_gives_the_grammar(client: TestClient, route: str) -> None:
    doc = client.get("/openapi.json").json()
    (param,) = [p for p in doc["paths"][route]["get"]["parameters"] if p["name"] == "query"]
    assert lang.GRAMMAR in param["description"] and "docs/query.md" in param["description"]
    assert param["schema"]["maxLength"] == lang.MAX_LENGTH
    in_docs = re.search(r"```text\n(query   := .*?)```", (DOCS / "query.md").read_text(), re.S)
    assert in_docs is not None and in_docs.group(1) == lang.GRAMMAR
