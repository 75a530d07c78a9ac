"""How queued calls become events; the client's kind table matches the server's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from logcycle import kinds as server_kinds
from logcycle.client import InvalidEventError
from logcycle.client._batch import encode
from logcycle.client._events import ERROR, KINDS, REQUEST_EVENT, build_event, to_event


def test_kind_table_matches_the_server() -> None:
    server = {k.name: k for k in server_kinds.KINDS.values()}
    assert set(KINDS) == set(server)
    for name, spec in KINDS.items():
        kind = server[name]
        assert spec.required == kind.required, name
        optional = {f.name for f in kind.fields if not f.required}
        assert spec.optional == optional, name


def test_error_tuple_to_event() -> None:
    event = to_event((ERROR, "m", "Mod", 5, "rk", None, {"user_id": "u", "shard": 2}))
    assert event == {"kind": "error", "instant": 5, "module_name": "Mod", "message": "m",
                     "request_key": "rk", "user_id": "u", "attributes": {"shard": 2}}


def test_unknown_fields_merge_into_given_attributes() -> None:
    event = build_event("general", {"message": "x", "attributes": {"a": 1}, "b": 2,
                                    "instant": datetime(2026, 1, 1, tzinfo=UTC)})
    assert event["attributes"] == {"a": 1, "b": 2}
    assert event["instant"] == 1767225600000


def test_instant_defaults_to_now() -> None:
    event = build_event("general", {"message": "x"})
    assert abs(event["instant"] - datetime.now(UTC).timestamp() * 1000) < 60_000


@pytest.mark.parametrize(("kind", "fields", "why"), [
    ("nope", {"message": "x"}, "unknown kind"),
    ("screen", {"duration_ms": 1, "screen": "s"}, "needs request_key"),
    ("general", {"message": "x", "instant": [1]}, "instant must be"),
    ("general", {"message": "x", "attributes": [1], "y": 1}, "attributes must be"),
])
def test_bad_calls(kind: str, fields: dict[str, object], why: str) -> None:
    with pytest.raises(InvalidEventError, match=why):
        build_event(kind, fields)


def test_bad_argument_types() -> None:
    with pytest.raises(InvalidEventError, match="message must be a str"):
        to_event((ERROR, 42, "Mod", 5, None, None, {}))
    with pytest.raises(InvalidEventError, match="request_event_details must be a dict"):
        to_event((REQUEST_EVENT, 5, "rk", "n", "mk", "mn", "ak", "an", "not a dict"))


def test_encoding_keeps_what_json_cannot_hold_as_text() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    body, bad = encode([{"a": Thing(), "b": {1, 2}, "c": datetime(2026, 1, 1, tzinfo=UTC)},
                        {"d": float("inf")}, {"e": "é"}])
    assert bad == [1]
    assert body == (b'[{"a":"<thing>","b":[1,2],"c":"2026-01-01T00:00:00+00:00"},'
                    b'{"e":"\\u00e9"}]')
