"""Hostile input never produces a 5xx or stores a partial batch."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from logcycle.kinds import KINDS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
field_names = st.sampled_from(sorted({f.name for k in KINDS.values() for f in k.fields}
                                     | {"kind", "attributes", "bogus"}))
# The client fixture is shared across examples on purpose: one store takes every batch.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]
events = st.dictionaries(field_names, json_values | st.sampled_from(list(KINDS)), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(batch=st.lists(events, max_size=4))
def test_random_batches_are_200_or_4xx(client: TestClient, batch: list[dict[str, Any]]) -> None:
    r = client.post("/api/v1/events", content=json.dumps(batch))
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert len(r.json()["ids"]) == len(batch)
    else:
        assert r.json()["error"]["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(body=st.binary(max_size=200))
def test_random_bytes_are_4xx(client: TestClient, body: bytes) -> None:
    for ctype in ("application/json", "application/x-ndjson"):
        r = client.post("/api/v1/events", content=body, headers={"Content-Type": ctype})
        assert 400 <= r.status_code < 500, r.text


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(params=st.dictionaries(st.sampled_from(["kind", "q", "start", "end", "request_key",
                                               "src", "stream", "type", "module", "after",
                                               "limit"]), st.text(max_size=20), max_size=5))
def test_random_queries_are_200_or_400(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/api/v1/events", params=params)
    assert r.status_code in (200, 400), r.text


def test_non_ascii_digits_are_a_400(client: TestClient) -> None:
    """'²'.isdigit() is true but int('²') fails: found by the fuzzer as a 500."""
    for params in ({"start": "²"}, {"end": "١٢"}, {"after": "djEuMg"}, {"limit": "²"}):
        assert client.get("/api/v1/events", params=params).status_code in (200, 400)
    assert client.get("/api/v1/events/²").status_code == 400
