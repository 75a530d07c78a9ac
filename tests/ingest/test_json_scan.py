"""The quick scan of JSON fields (``decode._suspect``) lets through only what the exact
checks would pass: it says "look closer" whenever the regex ``BIG_NUMBER`` matches or the
brackets are deeper than the limit, and the JSON it flags is still refused or stored as
before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from logcycle.ingest.decode import BIG_NUMBER, BatchDecoder, _suspect
from logcycle.kinds import MAX_JSON_DEPTH

ALPHABET = b'0123456789eE+-.,{}[]":ab \\'


def reference(data: bytes) -> bool:
    return (data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH
            or BIG_NUMBER.search(data) is not None)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(list(ALPHABET)), max_size=60).map(bytes))
def test_scan_flags_exactly_what_the_regex_and_the_count_flag(data: bytes) -> None:
    assert _suspect(data) == reference(data)


def test_scan_on_the_edges() -> None:
    for n in (17, 18, 19, 20, 40):
        for digit in b"0159":
            data = b'{"a":' + bytes([digit]) * n + b"}"
            assert _suspect(data) == reference(data) == (n >= 19)
    for exp in (b"1e30", b"1e300", b"1E+300", b"1e-300", b"1e-30", b"x-123", b"fe-442"):
        assert _suspect(exp) == reference(exp)
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
        body = b'[{"kind":"general","instant":0,"message":"a","attributes":' + bad + b"}]"
        p = d.decode_each([body[1:-1]], now_ms=1)
        assert p.events == [] and why in p.rejected[0].message, (bad, p.rejected)
