"""The quick scan of JSON fields (``decode._suspect``) never lets through what the exact
checks refuse (too deep, an integer beyond 64 bits, a number beyond double range): it
says "look closer" for every such value, and the values it flags are still judged exactly.
The scan of a whole batch's attributes at once (``decode._attribute_texts``) judges each
event's as the scan of each alone does.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.errors import BadRequest
from logcycle.ingest.decode import (
    BIG_NUMBER,
    BatchDecoder,
    _attribute_texts,
    _json_problem,
    _json_text,
    _suspect,
)
from logcycle.kinds import MAX_JSON_DEPTH

ALPHABET = b'0123456789eE+-.,{}[]":ab \\'
NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(lambda i: str(i).encode()),
    st.builds(lambda i, f, e, sign: f"{i}.{f}{e}{sign}".encode(), st.integers(-1000, 1000),
              st.integers(0, 999), st.sampled_from(["e", "E", "e+", "E-"]),
              st.integers(0, 999)),
    st.sampled_from([b"1e400", b"-1E+309", b"1e-400", b"9223372036854775808", b"1e0309"]))
TEXTS = st.text(alphabet="0123456789abcdefE-", max_size=40)
OBJECTS = st.lists(st.tuples(TEXTS, st.one_of(NUMBERS, TEXTS.map(lambda t: msgspec.json.encode(
    t)))), max_size=6).map(
        lambda pairs: b"{" + b",".join(msgspec.json.encode(k) + b":" + v for k, v in pairs)
        + b"}")
ATTRIBUTES = st.one_of(
    OBJECTS, OBJECTS.map(lambda o: b'{"n":' + o + b"}"),
    OBJECTS.map(lambda o: b'{"x": ' + o + b" }"),  # spaces where a number may end
    st.integers(MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 2).map(
        lambda n: b'{"d":' + b"[" * n + b"]" * n + b"}"),
    st.sampled_from([b"null", b"[1]", b'"text"', b'{"id":"ab3e141cd"}', b'{"f":1e300}',
                     b'{"f":-1E+309}', b'{"s":"1e400"}']))


def refused(data: bytes) -> bool:
    try:
        return _json_problem(msgspec.json.decode(data)) is not None
    except (msgspec.ValidationError, RecursionError):
        return True


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(TEXTS, st.one_of(NUMBERS, TEXTS.map(lambda t: msgspec.json.encode(
    t)))), max_size=6))
def test_scan_flags_every_json_the_exact_check_refuses(pairs: list[tuple[str, bytes]]) -> None:
    data = b"{" + b",".join(msgspec.json.encode(k) + b":" + v for k, v in pairs) + b"}"
    if refused(data):
        assert _suspect(data), data


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(list(ALPHABET)), max_size=60).map(bytes))
def test_scan_flags_no_more_than_the_regex_and_the_count(data: bytes) -> None:
    if _suspect(data):
        assert (data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH
                or BIG_NUMBER.search(data) is not None)


def test_scan_on_the_edges() -> None:
    for n in (17, 18, 19, 20, 40):
        assert _suspect(b'{"a":' + b"9" * n + b"}") == (n >= 19)
    for text, flagged in [(b'{"f":1e30}', False), (b'{"f":1e300}', True),
                          (b'{"f":1E+300 }', True), (b'{"f":[1e-300]}', True), (b"1e400", True),
                          (b'{"id":"b8b6d8fe-442e"}', False), (b'{"id":"ab3e141cd"}', False)]:
        assert _suspect(text) == flagged, text
    deep = b"[" * MAX_JSON_DEPTH + b"{" + b"}" + b"]" * MAX_JSON_DEPTH
    assert _suspect(deep) and not _suspect(deep[1:-1])


def test_flagged_attributes_are_still_judged_exactly() -> None:
    d = BatchDecoder(max_future_ms=0, max_batch=10)
    ok = (b'[{"kind":"general","instant":0,"message":"a","attributes":'
          b'{"n":9223372036854775807,"f":1e300,"id":"fe-442"}}]')
    (event,) = d.decode_json(ok, now_ms=1).events
    assert event.attributes == '{"n":9223372036854775807,"f":1e300,"id":"fe-442"}'
    for bad, why in [(b'{"n":9223372036854775808}', "64 bits"), (b'{"f":1e400}', "double"),
                     (b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", "deeper")]:
        body = b'{"kind":"general","instant":0,"message":"a","attributes":' + bad + b"}"
        p = d.decode_each([body], now_ms=1)
        assert p.events == [] and why in p.rejected[0].message, (bad, p.rejected)


def _judged(raw: msgspec.Raw, index: int) -> str | tuple[int | None, str] | None:
    try:
        return _json_text(raw, "attributes", index, True)
    except BadRequest as exc:
        return exc.errors[0].index, exc.errors[0].message


@settings(max_examples=500, deadline=None)
@given(st.lists(ATTRIBUTES, min_size=1, max_size=8))
def test_a_batch_s_attributes_judged_as_each_alone(attributes: list[bytes]) -> None:
    raws = [msgspec.Raw(a) for a in attributes]
    indexes = [2 * i for i in range(len(raws))]  # positions in a batch with other events
    each = [_judged(r, i) for r, i in zip(raws, indexes, strict=True)]
    refused = [e for e in each if isinstance(e, tuple)]
    try:
        got: list[str | tuple[int | None, str] | None] = list(_attribute_texts(raws, indexes))
    except BadRequest as exc:
        assert refused and (exc.errors[0].index, exc.errors[0].message) == refused[0]
    else:
        assert got == each
