"""Syslog: RFC 5424 and RFC 3164 messages → native events, and the TCP framing of RFC 6587
(octet counting, or one message a line).

Mapping: PRI → ``attributes.facility`` and the severity, whose name is the
``message_type`` (``Error``, ``Warning``, ``Information``...); HOSTNAME → ``src``;
APP-NAME (the 3164 tag) → ``module_name``; PROCID, MSGID and STRUCTURED-DATA →
``attributes.procid``, ``.msgid``, ``.structured_data`` (``{sd-id: {param: value}}``). A
3164 time has no year and no zone: the year is the one that puts it closest before now,
the zone the store's (``--timezone``).

>>> from datetime import UTC
>>> clock = ClockRule(now_ms=1_764_600_000_000, max_future_ms=0)
>>> line = b'<165>1 2025-11-30T10:00:00Z web-1 shop 42 ID7 [x@1 a="b"] paid'
>>> event = parse(line, clock, UTC)
>>> [event[k] for k in ("instant", "message", "message_type", "module_name", "src")]
[1764496800000, 'paid', 'Notice', 'shop', 'web-1']
>>> event["attributes"]
{'facility': 'local4', 'procid': '42', 'msgid': 'ID7', 'structured_data': {'x@1': {'a': 'b'}}}
>>> f = Framer(100)
>>> f.feed(b"15 <13>1 - - - - -\\n<13>second line\\n<13>th"), f.feed(b"ird\\n")
([b'<13>1 - - - - -', b'<13>second line'], [b'<13>third'])
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from logcycle.ingest.protocols import rows
from logcycle.ingest.protocols.common import ClockRule, Item, parse_time
from logcycle.kinds import MAX_MESSAGE

SEVERITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Information",
              "Debug")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
              "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
              *(f"local{i}" for i in range(8)))
DEFAULT_PRI = 13  # user.notice, for a line without <PRI> (RFC 3164 section 4.3.3)
_5424 = re.compile(r"1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_3164_TIME = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) ")
_TAG = re.compile(r"([^\s\[:]{1,48})(?:\[([^\]]{1,128})\])?: ?")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                       "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_SD_ID = re.compile(r"\[([^ \]=\"]{1,64})")
# The value as "runs of plain characters between escapes" (the same strings as
# (?:[^"\\]|\\.)*, read ten times faster by the regex engine: one loop, not one branch a
# character).
_SD_PARAM = re.compile(r' ([^= \]"]{1,32})="([^"\\]*(?:\\.[^"\\]*)*)"')
_SD_ESCAPE = re.compile(r"\\([\"\\\]])")
# A whole well-formed element without a backslash (``[id k="v" ...]``, the same id and
# params as above, possessive: nothing to give back) read by one match, its params then
# split in C: no value holds a quote, so '" ' only ever ends one. 28,000 → ~11,000
# instructions for a shipper's element of three (callgrind). Any other element, and what
# follows it, is read by the loop.
_SD_PLAIN = re.compile(r'\[([^ \]="]{1,64}+)((?: [^= \]"]{1,32}+="[^"\\]*+")*+)\]')
_BOM = "\ufeff"


def parse(line: bytes, clock: ClockRule, tz: tzinfo, limit: int | None = None) -> Item:
    """One syslog message (without its framing) → a native event; given ``limit``
    (:func:`rows.limit_of`), a plain one's validated row (:func:`rows.row`)."""
    # <PRI>: 1 to 3 ASCII digits in angle brackets (the regex <(\d{1,3})>, read without one).
    end = line.find(b">", 1, 5) if line[:1] == b"<" else -1
    digits = line[1:end] if end > 1 else b""
    pri = int(digits) if digits.isdigit() else DEFAULT_PRI
    if pri > 191:
        return f"PRI {pri} is out of range (0-191)"
    start = end + 1 if digits.isdigit() else 0
    text = line[start:].decode("utf-8", errors="replace").rstrip("\r\n\0")
    attrs: dict[str, Any] = {"facility": FACILITIES[pri >> 3]}
    header = _5424.match(text)
    fields = (_rfc5424(text, header, attrs) if header is not None
              else _rfc3164(text, tz, clock, attrs))
    when, message, host, app = fields
    if len(message) > MAX_MESSAGE:  # as syslog daemons do: cut, and say so
        message, attrs["truncated"] = message[:MAX_MESSAGE], True
    instant = clock.of(when, attrs) if isinstance(when, str) else clock.instant(when, attrs)
    if limit is not None:
        found = rows.row(instant, message, SEVERITIES[pri & 7], app, None, host, None,
                         attrs, limit=limit)
        if found is not None:
            return found
    # native(...) written out: its keyword arguments cost 0.3 µs a line.
    event = {"kind": "general", "instant": instant, "message": message,
             "message_type": SEVERITIES[pri & 7]}
    if app is not None:
        event["module_name"] = app
    if host is not None:
        event["src"] = host
    event["attributes"] = attrs  # never empty: it holds the facility
    return event


def parse_all(frames: list[bytes], clock: ClockRule, tz: tzinfo, limit: int | None = None) \
        -> list[Item]:
    """:func:`parse` of each message (what the listeners hand to a protocol worker)."""
    return [parse(f, clock, tz, limit) for f in frames]


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _rfc5424(text: str, m: re.Match[str], attrs: dict[str, Any]) \
        -> tuple[Any, str, str | None, str | None]:
    when, host, app, procid, msgid = m.groups()
    if procid != "-":
        attrs["procid"] = procid
    if msgid != "-":
        attrs["msgid"] = msgid
    rest = text[m.end():]
    if rest.startswith("-"):
        rest = rest[1:]
    else:
        sd, rest = _structured_data(rest)
        if sd:
            attrs["structured_data"] = sd
    message = rest[1:] if rest.startswith(" ") else rest
    return (_nil(when), message.removeprefix(_BOM), _nil(host), _nil(app))


def _structured_data(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """``[id k="v" ...][id2 ...]`` at the start of ``text`` → (elements, the rest)."""
    sd: dict[str, dict[str, str]] = {}
    pos = 0
    while text[pos:pos + 1] == "[":
        for shape, sd_id, names in _SHAPES.values():  # a shape seen before: one match
            m = shape.match(text, pos)
            if m is not None:
                sd[sd_id] = dict(zip(names, m.groups(), strict=True))
                pos = m.end()
                break
        else:
            e = _SD_PLAIN.match(text, pos)
            if e is None:
                return _elements(text, pos, sd)
            params = e.group(2)  # ' k1="v1" k2="v2"' → [k1, v1, k2, v2]
            words = iter(params[1:-1].replace('" ', '="').split('="')) if params else iter(())
            sd[e.group(1)] = element = dict(zip(words, words, strict=True))
            pos = e.end()
            _learn(e.group(1), e.group(0), element)
    return sd, text[pos:]


# The shapes of the plain elements a sender writes (its id and param names: a shipper
# writes the same few again and again), each as one regular expression of literals with a
# group a value: read by one match and its groups, half the cost of the match and split
# above (callgrind). A shape matches only what _SD_PLAIN reads the same way. At most
# MAX_SHAPES are kept, the oldest forgotten first.
_SHAPES: dict[tuple[str, tuple[str, ...]], tuple[re.Pattern[str], str, tuple[str, ...]]] = {}
MAX_SHAPES = 8
_MAX_SHAPE_PARAMS = 16


def _learn(sd_id: str, whole: str, element: dict[str, str]) -> None:
    names = tuple(element)
    # Only a shape whose element read back whole: no repeated param name.
    if len(names) > _MAX_SHAPE_PARAMS or whole.count('="') != len(names):
        return
    key = (sd_id, names)
    if key in _SHAPES:
        return
    if len(_SHAPES) >= MAX_SHAPES:
        del _SHAPES[next(iter(_SHAPES))]
    pattern = re.escape("[" + sd_id) + "".join(
        " " + re.escape(name) + '="([^"\\\\]*+)"' for name in names) + r"\]"
    _SHAPES[key] = (re.compile(pattern), sd_id, names)


def _elements(text: str, pos: int, sd: dict[str, dict[str, str]]) \
        -> tuple[dict[str, dict[str, str]], str]:
    """The elements from ``pos`` on read one param at a time (what the single match of
    :func:`_structured_data` does not take: a malformed element and what follows it)."""
    while (m := _SD_ID.match(text, pos)) is not None:
        params: dict[str, str] = {}
        sd[m.group(1)] = params
        pos = m.end()
        while (p := _SD_PARAM.match(text, pos)) is not None:
            value = p.group(2)
            params[p.group(1)] = _SD_ESCAPE.sub(r"\1", value) if "\\" in value else value
            pos = p.end()
        if text[pos:pos + 1] != "]":
            return sd, text[pos:]  # malformed: the rest is the message
        pos += 1
    return sd, text[pos:]


def _rfc3164(text: str, tz: tzinfo, clock: ClockRule, attrs: dict[str, Any]) \
        -> tuple[Any, str, str | None, str | None]:
    when: Any = None
    m = _3164_TIME.match(text)
    if m:
        when = _bsd_time(m, tz, clock.now_ms)
        text = text[m.end():]
    else:  # senders such as rsyslog's forward format put an RFC 3339 time here
        first, _, rest = text.partition(" ")
        if first[:1].isdigit() and parse_time(first) is not None:
            when, text = first, rest
    host: str | None = None
    if _tag(text) is None:
        first, sep, rest = text.partition(" ")
        if sep and first and ":" not in first and _tag(rest) is not None:
            host, text = first, rest
    tag = _tag(text)
    if tag is None:
        return when, text, host, None
    if tag.group(2):
        attrs["procid"] = tag.group(2)
    return when, text[tag.end():], host, tag.group(1)


def _tag(text: str) -> re.Match[str] | None:
    """The 3164 TAG (``app:`` or ``app[pid]:``) at the start of ``text``."""
    m = _TAG.match(text)
    return m if m is not None and text[m.end() - 1:m.end()] in (":", " ") and \
        ":" in text[m.end(1):m.end()] else None


def _bsd_time(m: re.Match[str], tz: tzinfo, now_ms: int) -> int | None:
    month = _MONTHS.get(m.group(1))
    if month is None:
        return None
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    for year in (now.year + 1, now.year, now.year - 1):
        try:
            dt = datetime(year, month, int(m.group(2)), int(m.group(3)), int(m.group(4)),
                          int(m.group(5)), tzinfo=tz)
        except ValueError:
            continue
        ms = int(dt.timestamp() * 1000)
        if ms <= now_ms + 86_400_000:  # the latest such time not more than a day ahead
            return ms
    return None


class Framer:
    """Splits a TCP byte stream into messages (RFC 6587): a frame that starts with a
    digit is octet-counted (``LEN SP MSG``), any other ends at LF. A frame longer than
    ``max_frame`` is cut at that length and the rest of it skipped."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = b""
        self._skip = 0  # bytes of a cut octet-counted frame still to skip
        self._discard = False  # skipping the end of a cut line, up to its LF

    def feed(self, data: bytes) -> list[bytes]:
        """The complete frames once ``data`` is added."""
        buf, pos = self._buf + data, 0
        if self._skip:
            pos = min(self._skip, len(buf))
            self._skip -= pos
        if self._discard:
            lf = buf.find(b"\n", pos)
            if lf < 0:
                self._buf = b""
                return []
            pos, self._discard = lf + 1, False
        frames: list[bytes] = []
        size, limit = len(buf), self.max_frame
        while pos < size:
            # The common frame, octet-counted, whole and within the limit, read here;
            # the others (and a count that is not one) by _one.
            space = buf.find(b" ", pos, pos + 12) if 48 <= buf[pos] <= 57 else -1
            if space > pos and buf[pos:space].isdigit():
                count = int(buf[pos:space])
                end = space + 1 + count
                if 0 < count <= limit and end <= size:
                    frames.append(buf[space + 1:end])
                    pos = end
                    continue
            frame, pos, done = self._one(buf, pos)
            if not done:
                break
            if frame:
                frames.append(frame)
        self._buf = buf[pos:]
        return frames

    def _one(self, buf: bytes, pos: int) -> tuple[bytes, int, bool]:
        """(frame, position after it, whether a whole frame was there)."""
        if buf[pos] in b"\n\r\0 ":
            return b"", pos + 1, True
        if 48 <= buf[pos] <= 57:
            space = buf.find(b" ", pos, pos + 12)
            if space > pos and buf[pos:space].isdigit():
                n, start = int(buf[pos:space]), space + 1
                take = min(n, self.max_frame)
                if len(buf) - start < take:
                    return b"", pos, False
                after = min(len(buf), start + n)
                self._skip = start + n - after
                return buf[start:start + take], after, True
        lf = buf.find(b"\n", pos)
        if lf < 0:
            if len(buf) - pos <= self.max_frame:
                return b"", pos, False
            self._discard = True
            return buf[pos:pos + self.max_frame], len(buf), True
        return buf[pos:min(lf, pos + self.max_frame)], lf + 1, True

    def rest(self) -> list[bytes]:
        """What is left when the connection ends: a last line without its LF."""
        tail, self._buf = self._buf.strip(b"\r\n\0 "), b""
        return [tail[:self.max_frame]] if tail and not self._skip else []
