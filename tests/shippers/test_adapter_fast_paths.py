"""The hand-written fast paths of the adapters read what the regexes and chains they
replaced read: syslog's <PRI>, structured-data values with escapes, CLEF's @@ keys, OTLP
AnyValue kinds, and a shipper's level names whether seen before or not; the bulk answer
written from a template is the JSON of the answer's dict."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from logcycle.ingest.protocols import clef, es_bulk, otlp, syslog
from logcycle.ingest.protocols.common import ClockRule, Replayed, level_name, parse_time

CLOCK = ClockRule(now_ms=1_764_600_000_000, max_future_ms=0)
PRI = re.compile(rb"<(\d{1,3})>")  # what parse() read the PRI with before


def test_syslog_pri_as_the_regex_reads_it() -> None:
    for line in [b"<13>x", b"<0>x", b"<191>x", b"<007>x", b"<>x", b"<1234>x", b"<12a>x",
                 b"<1", b"x<13>", b"", b"<", b"< 1>x", b"<\xd9>x", b"<13><14>x"]:
        got = syslog.parse(line, CLOCK, UTC)
        m = PRI.match(line)
        pri = int(m.group(1)) if m else syslog.DEFAULT_PRI
        assert isinstance(got, dict), (line, got)
        rest = line[m.end() if m else 0:].decode("utf-8", errors="replace")
        assert got["message"] == rest.rstrip("\r\n\0"), line
        assert got["message_type"] == syslog.SEVERITIES[pri & 7], line
    assert syslog.parse(b"<192>x", CLOCK, UTC) == "PRI 192 is out of range (0-191)"


def test_structured_data_escapes_and_malformed_elements() -> None:
    sd, rest = syslog._structured_data('[a@1 k="v\\"q" k2="\\]" k3="x\\\\"][b@2] msg')
    assert sd == {"a@1": {"k": 'v"q', "k2": "]", "k3": "x\\"}, "b@2": {}} and rest == " msg"
    sd, rest = syslog._structured_data('[a@1 k="v" broken] msg')
    assert sd == {"a@1": {"k": "v"}} and rest == " broken] msg"
    sd, rest = syslog._structured_data('[a@1 k="unterminated] msg')
    assert sd == {"a@1": {}} and rest == ' k="unterminated] msg'


_SD_PIECES = st.sampled_from(['[', ']', ' ', '=', '"', '\\', 'a@1', 'k', 'v', 'x y', 'é',
                               '[a@1 k="v"]', ' k2="w\\"q"', '\n'])


@settings(max_examples=1000, deadline=None)
@given(st.lists(_SD_PIECES, max_size=14).map("".join))
def test_structured_data_one_match_reads_what_the_loop_reads(text: str) -> None:
    """Each plain element read by one match and split, or by the one match of a shape
    seen before (the second read), gives the same elements and rest as reading every
    element param by param."""
    for whole in (text, '[id@1 a="1" b="x\\"y" c="\\]"]' + text, '[s@1 a="1" b=""]' + text):
        loop = syslog._elements(whole, 0, {})
        assert syslog._structured_data(whole) == loop
        assert syslog._structured_data(whole) == loop  # its shapes known now


def test_structured_data_shapes_kept_are_few_and_change_nothing() -> None:
    syslog._SHAPES.clear()
    for i in range(3 * syslog.MAX_SHAPES):
        text = f'[e{i}@1 a="{i}" a="x"][f@1 k="v" k2="w{i}"] m'
        assert syslog._structured_data(text) == syslog._elements(text, 0, {})
        assert len(syslog._SHAPES) <= syslog.MAX_SHAPES
    # A repeated name is never a shape (its element would not read back whole).
    assert all(len(set(names)) == len(names) for names in (k[1] for k in syslog._SHAPES))
    assert ("f@1", ("k", "k2")) in syslog._SHAPES
    sd, rest = syslog._structured_data('[f@1 k="1" k2="2"][f@1 k="3" k2="\\"4"] m')
    assert sd == {"f@1": {"k": "3", "k2": '"4'}} and rest == " m"
    sd, _ = syslog._structured_data('[f@1 k="a\\\\" k2="b"] m')  # k is a\\ escaped: a\
    assert sd == {"f@1": {"k": "a\\", "k2": "b"}}


def test_clef_properties_and_escaped_at_keys() -> None:
    event = clef.from_clef({"@t": "2025-11-30T10:00:00Z", "@m": "hi", "@@t": "mine", "": 1,
                            "x": 2, "@r": ["ignored"], "@i": "e1"}, CLOCK)
    assert isinstance(event, dict)
    assert event["attributes"] == {"@t": "mine", "": 1, "x": 2, "event_id": "e1"}  # @@ → @


def test_otlp_any_values() -> None:
    cases = [(AnyValue(string_value="s"), "s"), (AnyValue(int_value=-3), -3),
             (AnyValue(bool_value=False), False), (AnyValue(double_value=0.5), 0.5),
             (AnyValue(bytes_value=b"\x00\x01"), "AAE="), (AnyValue(), None),
             (AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])), [1])]
    for value, want in cases:
        assert otlp._value(value) == want


def test_level_names_the_same_the_second_time() -> None:
    for text in ["warn", "WARN", " Error ", "custom-level", "x" * 100, "", "  "]:
        first, second = level_name(text), level_name(text)
        assert first == second
    assert level_name("warn") == "Warning" and level_name("x" * 100) == "x" * 64
    assert level_name("") is None and level_name(None) is None and level_name(3) == "3"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.booleans()), max_size=8),
       st.sampled_from([8, 30, 1 << 20]), st.data())
def test_framer_whole_or_in_pieces(frames: list[tuple[bytes, bool]], limit: int,
                                   data: st.DataObject) -> None:
    """Octet-counted frames read whole (the fast path) give what they give when the
    stream comes a byte or a few at a time (every frame then through the general path)."""
    stream = b"".join(b"%d %s" % (len(f), f) if counted else f + b"\n"
                      for f, counted in frames)
    whole = syslog.Framer(limit)
    expected = whole.feed(stream) + whole.rest()
    pieces = syslog.Framer(limit)
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = data.draw(st.integers(1, 5))
        got += pieces.feed(stream[pos:pos + step])
        pos += step
    assert got + pieces.rest() == expected


def test_framer_octet_counts() -> None:
    f = syslog.Framer(10)
    assert f.feed(b"3 abc0 5 hello12 123456789012\n4 ab") == [b"abc", b"hello",
                                                               b"1234567890"]
    assert f.feed(b"cd") == [b"abcd"]


def test_bulk_answer_bytes_are_the_answer_s_json() -> None:
    body = b"\n".join([
        b'{"create":{}}', b'{"message":"a"}',
        b'{"index":{"_index":"q\\"uote \xc3\xa9","_id":"7"}}', b'{"message":"b"}',
        b'{"create":{"_id":"k"}}', b"{}", b'{"delete":{"_id":"1"}}', b'{"update":{}}', b"{}",
        b'{"create":{"_index":"other"}}', b"[1]", b'{"index":{"_index":"other"}}', b"{}"])
    req = es_bulk.parse_bulk(body + b"\n", "url-index", es_bulk.Fields.of("", ""), CLOCK)
    for results in ([1, Replayed(2), Replayed(3), "not supported", "not supported",
                     "the document must be a JSON object", 2**40],
                    [1, 2, 3, "x", "y", 4, 5]):
        assert es_bulk.answer_json(req, results, 12) == orjson.dumps(  # type: ignore[arg-type]
            es_bulk.answer(req, results, 12))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
       st.sampled_from(["Z", "+00:00", ""]),
       st.sampled_from([None, "60", "6x", "٣٣", "99"]), st.sampled_from([0, 1, 2, 3, 4, 6, 9]))
def test_parse_time_of_the_usual_form_as_fromisoformat(dt: datetime, zone: str,
                                                       sec: str | None, digits: int) -> None:
    frac = (dt.strftime("%f") + "789")[:digits]
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.").rjust(20, "0") + frac + zone
    if sec is not None:
        text = text[:17] + sec + text[19:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        expected = None
    else:
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        expected = (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_time(text) == expected, text
    assert parse_time(text) == expected, text  # the second remembered
