"""The fingerprint of an error: what stays the same between occurrences of one bug, so
that a thousand occurrences are one error group (docs/errors.md, "How errors are grouped").

It hashes four parts, each normalised:

1. ``module_name``;
2. the exception type: from the stack trace in ``detail`` (Python's last line, the first
   line of a Java, .NET or JavaScript trace), else from a ``Type: text`` message;
3. the message (its first 1,000 characters) with URLs' query strings and variable path
   segments, quoted values, UUIDs, hex values, e-mail addresses and numbers masked;
4. the top five frames of the stack trace in ``detail`` (innermost first): file and
   function, never line or column numbers; a file keeps its last two path parts, with
   hashes in bundle names masked.

>>> a = fingerprint("shop", "order 1234 not found", None)
>>> a == fingerprint("shop", "order 98 not found", None), len(a)
(True, 16)
>>> a == fingerprint("billing", "order 1234 not found", None)
False
>>> mask_message("GET https://api.example.com/v1/users/42?token=abc failed: 'bob' 0x1f")
'GET https://api.example.com/v1/users/<*>?<*> failed: <str> <hex>'
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

MESSAGE_CHARS = 1000
TOP_FRAMES = 5
_DETAIL_CHARS = 65536
_CACHED_CHARS = 8192

_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s?#'\"]+)([^\s?#'\"]*)(\?[^\s#'\"]*)?(#\S*)?",
                  re.IGNORECASE)
_QUOTED = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                   re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b",
                  re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:[.,:]\d+)*")
# A path segment that names one thing (an id), not a route: all digits, 3 digits or more,
# a long hex or token. "v1" and "orders" stay.
_SEGMENT_VARIABLE = re.compile(r"^\d+$|\d{3,}|^[0-9a-f-]{16,}$|^[A-Za-z0-9_-]{20,}$",
                               re.IGNORECASE)

# Exception types: dotted names ending the way exception classes do, or a Python builtin.
_TYPE_NAME = (r"[A-Za-z_$][\w$.:]*"
              r"(?:Error|Exception|Fault|Warning|Interrupt|Exit|Failure|Panic|Timeout)")
_TYPE_AT_START = re.compile(rf"^\s*(?:Uncaught\s+)?(?:Unhandled exception\.\s+)?({_TYPE_NAME})"
                            r"(?=:|\s*$|\s*\()")
_PY_LAST = re.compile(r"([A-Za-z_][\w.]*)(?::|$)")
_JAVA_HEAD = re.compile(rf"^(?:Exception in thread \"[^\"]*\"\s+)?({_TYPE_NAME})(?::|$)")

# Frames.
# Starts with a literal: the regex engine searches for it (no ^ tried at every position).
_PY_FRAMES = re.compile(r'File "([^"\n]+)", line \d+, in (\S+)')
_JAVA_FRAME = re.compile(r"^\s*at ([\w$.<>/]+)\.([\w$<>\[\]`]+)\((?:[^():]*?)?([\w$.-]*)"
                         r"(?::\d+)?\)\s*$")
_DOTNET_FRAME = re.compile(r"^\s*at ([\w$.`<>+\[\], ]+)\.([\w$`<>]+)\([^)]*\)"
                           r"(?: in (.+?)(?::line \d+)?)?\s*$")
_JS_FRAME = re.compile(r"^\s*at (?:(?:async )?([^\s(]+) )?\(?(.+?)(?::\d+)?(?::\d+)?\)?\s*$")
_FF_FRAME = re.compile(r"^\s*([^@\s]*)@(.+?)(?::\d+)?(?::\d+)?\s*$")
_BUNDLE_HASH = re.compile(r"[.-][0-9a-f]{6,}(?=\.)", re.IGNORECASE)
_FILE_QUERY = re.compile(r"[?#].*$")


@dataclass(frozen=True, slots=True)
class Trace:
    """What a stack trace in ``detail`` tells: the exception type and the top frames."""

    type: str
    frames: tuple[str, ...]


def fingerprint(module_name: str | None, message: str | None, detail: str | None) -> str:
    """16 hex characters naming the error group of an error event."""
    if not detail:
        trace = Trace("", ())
    elif len(detail) <= _CACHED_CHARS:  # one bug's occurrences mostly repeat one trace
        trace = _cached_trace(detail)
    else:
        trace = parse_trace(detail)
    text = (message or "")[:MESSAGE_CHARS]
    etype = trace.type or _type_from_message(text)
    parts = [module_name or "", etype, mask_message(text), *trace.frames]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def _type_from_message(message: str) -> str:
    m = _TYPE_AT_START.match(message)
    return m.group(1) if m else ""


def mask_message(message: str) -> str:
    """The message with what varies between occurrences replaced by placeholders."""
    # Each pass only when its telltale character is there: most messages need two.
    text = _URL.sub(_mask_url, message) if "://" in message else message
    if "'" in text or '"' in text or "`" in text:
        text = _QUOTED.sub("<str>", text)
    if "-" in text:
        text = _UUID.sub("<uuid>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if _DIGIT.search(text):
        text = _NUMBER.sub("<n>", _HEX.sub("<hex>", text))
    return " ".join(text.split())


def _mask_url(m: re.Match[str]) -> str:
    base, path, query = m.group(1), m.group(2) or "", m.group(3)
    segments = ["<*>" if _SEGMENT_VARIABLE.search(s) else s for s in path.split("/")]
    return base + "/".join(segments) + ("?<*>" if query else "")


@functools.lru_cache(maxsize=512)  # at most 512 traces of 8 KB: 4 MB
def _cached_trace(detail: str) -> Trace:
    return parse_trace(detail)


def parse_trace(detail: str) -> Trace:
    """The exception type and top frames of a Python, Java, .NET or JavaScript trace
    (Chrome/Node ``at f (file:line:col)`` or Firefox/Safari ``f@file:line:col``); an
    empty Trace when ``detail`` holds none."""
    text = detail[:_DETAIL_CHARS]
    if 'File "' in text:
        python = _PY_FRAMES.findall(text)
        if python:
            return _python(text, python)
    lines = text.splitlines()
    head = _head_type(lines)
    frames: list[str] = []
    for line in lines:
        frame = _frame(line)
        if frame is not None:
            frames.append(frame)
            if len(frames) == TOP_FRAMES:
                break
        elif frames and line.lstrip().startswith("Caused by"):
            break
    return Trace(head, tuple(frames))


def _python(text: str, frames: list[tuple[str, str]]) -> Trace:
    top = [f"{_file(f)}:{fn}" for f, fn in reversed(frames[-TOP_FRAMES:])]
    etype = ""
    for line in reversed(text[text.rfind('File "'):].splitlines()):
        s = line.strip()
        if s and not s.startswith(("File ", "^", "~")):
            m = _PY_LAST.match(s)
            etype = m.group(1) if m else ""
            break
    return Trace(etype, tuple(top))


def _head_type(lines: list[str]) -> str:
    for line in lines[:3]:
        m = _JAVA_HEAD.match(line.strip()) or _TYPE_AT_START.match(line)
        if m:
            return m.group(1)
    return ""


def _frame(line: str) -> str | None:
    """``file:function`` of one Java, .NET or JavaScript frame line, or None."""
    s = line.strip()
    if s.startswith("at "):
        # .NET: "at N.C.M(T x) in C:\\src\\File.cs:line 42"; without " in …" it reads as Java.
        if (m := _DOTNET_FRAME.match(s)) and (m.group(3) or " " in m.group(1)):
            return f"{_file(m.group(3) or m.group(1))}:{m.group(2)}"
        if m := _JAVA_FRAME.match(s):
            return f"{m.group(1)}:{m.group(2)}"
        if m := _JS_FRAME.match(s):
            return f"{_file(m.group(2))}:{m.group(1) or '<anonymous>'}"
        return None
    if "@" in s and (m := _FF_FRAME.match(s)) and ("/" in m.group(2) or "." in m.group(2)):
        return f"{_file(m.group(2))}:{m.group(1) or '<anonymous>'}"
    return None


@functools.lru_cache(maxsize=4096)  # the same files recur in every trace of an app
def _file(path: str) -> str:
    """The last two parts of a path or URL, without query, line numbers or bundle hashes:
    the same code deployed in another directory or build keeps its fingerprint."""
    p = _FILE_QUERY.sub("", path.strip()).replace("\\", "/")
    parts = [x for x in p.split("/") if x]
    tail = "/".join(parts[-2:]) if parts else p
    return _BUNDLE_HASH.sub("", tail)
