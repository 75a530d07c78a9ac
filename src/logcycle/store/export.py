"""The columnar copy (seed 001's "separate location … optimized for querying"): one file
per kind and week, Parquet (typed columns, zstd) or NDJSON, read from the store in short
keyset chunks on a read connection, so ingest never waits for it.

    done = export(store, out, start=s, end=e, kinds=("screen",), fmt="parquet", tz=tz)

Files are ``<out>/<kind>/<kind>-week<N>-<YYYY-MM-DD>.parquet`` (N: the week number of
CONTRACT §4, the date its first day). Each is written to ``….part`` and renamed when
complete, and ``<out>/manifest.json`` records what each holds (its range and rows), so an
export that stopped is run again and skips the files already done. The same code keeps
the archive (``--archive-dir``): every complete week, once, before retention empties it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from logcycle import cycles
from logcycle.kinds import KINDS, FieldType
from logcycle.query.events import to_event, weeks_to_read
from logcycle.store import schema
from logcycle.store.base import Store

CHUNK = 20_000
FORMATS = ("parquet", "ndjson")
MANIFEST = "manifest.json"
_INT_COLUMNS = {"id", "error_id"}


@dataclass(frozen=True, slots=True)
class Part:
    """One file of an export: a kind's rows of one week within [start, end]."""

    kind: str
    week: int
    start: int
    end: int

    def name(self, fmt: str, tz: ZoneInfo) -> str:
        day = datetime.fromtimestamp(cycles.week_start_ms(self.week, tz) / 1000, tz)
        return f"{self.kind}/{self.kind}-week{self.week}-{day:%Y-%m-%d}.{fmt}"


def arrow_schema(kind: str) -> Any:
    """The Parquet columns of a kind: instants as UTC timestamps (ms), numbers as
    doubles, booleans, ids as int64, text, and JSON fields (``attributes`` too) as text."""
    import pyarrow as pa

    types = {f.name: f.type for f in KINDS[kind].fields}
    fields = []
    for col in KINDS[kind].columns:
        t = types.get(col)
        if col in _INT_COLUMNS:
            typ = pa.int64()
        elif col == "insert_instant" or t is FieldType.INSTANT:
            typ = pa.timestamp("ms", tz="UTC")
        elif t is FieldType.NUMBER:
            typ = pa.float64()
        elif t is FieldType.BOOL:
            typ = pa.bool_()
        else:
            typ = pa.string()
        required = col in ("id", "insert_instant") or (t is not None and col in
                                                       KINDS[kind].required)
        fields.append(pa.field(col, typ, nullable=not required))
    return pa.schema(fields)


def plan(store: Store, start: int, end: int, kinds: Sequence[str], tz: ZoneInfo) -> list[Part]:
    """The parts of [start, end]: each kind of each week held in the range, oldest first."""
    parts: list[Part] = []
    for week in sorted(weeks_to_read(store.held(), start, end, tz)):
        lo = max(start, cycles.week_start_ms(week, tz))
        hi = min(end, cycles.week_start_ms(week + 1, tz) - 1)
        parts.extend(Part(kind, week, lo, hi) for kind in kinds)
    return parts


def count(store: Store, part: Part) -> int:
    p = store.dialect.param
    _, rows = store.fetch(f"SELECT count(*) FROM {schema.table(part.kind, part.week % 10)} "
                          f"WHERE insert_instant >= {p} AND insert_instant <= {p}",
                          [part.start, part.end])
    return int(rows[0][0])


class Cancelled(Exception):
    """The export was asked to stop (the server is shutting down); run it again later."""


def chunks(store: Store, part: Part, cancelled: Callable[[], bool] = lambda: False) -> \
        Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """The part's rows in id order, CHUNK at a time (each chunk its own short read)."""
    p = store.dialect.param
    table = schema.table(part.kind, part.week % cycles.CYCLES)
    last = 0
    while True:
        if cancelled():
            raise Cancelled(f"stopped while exporting {part.kind} week {part.week}")
        names, rows = store.fetch(
            f"SELECT * FROM {table} WHERE id > {p} AND insert_instant >= {p} AND "
            f"insert_instant <= {p} ORDER BY id LIMIT {p}", [last, part.start, part.end, CHUNK])
        if not rows:
            return
        yield names, rows
        last = rows[-1][0]


def _columns(kind: str, names: list[str], rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    bools = {f.name for f in KINDS[kind].fields if f.type is FieldType.BOOL}
    cols: dict[str, list[Any]] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        if name in bools:
            values = [None if v is None else bool(v) for v in values]
        cols[name] = values
    return cols


def _write_parquet(store: Store, part: Part, path: Path, progress: Callable[[int], None],
                   cancelled: Callable[[], bool]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sch = arrow_schema(part.kind)
    n = 0
    with pq.ParquetWriter(path, sch, compression="zstd") as writer:
        for names, rows in chunks(store, part, cancelled):
            cols = _columns(part.kind, names, rows)
            writer.write_table(pa.table({f.name: pa.array(cols[f.name], f.type)
                                         for f in sch}, schema=sch))
            n += len(rows)
            progress(len(rows))
    return n


def _write_ndjson(store: Store, part: Part, path: Path, progress: Callable[[int], None],
                  cancelled: Callable[[], bool]) -> int:
    n = 0
    with path.open("wb") as out:
        for names, rows in chunks(store, part, cancelled):
            out.write(b"".join(orjson.dumps(to_event(part.kind, names, r)) + b"\n"
                               for r in rows))
            n += len(rows)
            progress(len(rows))
    return n


class Manifest:
    """``manifest.json`` of an export directory: what each finished file holds."""

    def __init__(self, out: Path) -> None:
        self.path = out / MANIFEST
        self.files: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self.files = json.loads(self.path.read_text())["files"]

    def done(self, name: str, part: Part) -> bool:
        got = self.files.get(name)
        return (got is not None and got["start"] == part.start and got["end"] == part.end
                and (got["rows"] == 0 or (self.path.parent / name).exists()))

    def add(self, name: str, part: Part, rows: int) -> None:
        self.files[name] = {"kind": part.kind, "week": part.week, "start": part.start,
                            "end": part.end, "rows": rows,
                            "written": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"files": self.files}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def export(store: Store, out: Path, *, start: int, end: int, kinds: Sequence[str], fmt: str,
           tz: ZoneInfo, progress: Callable[[int], None] = lambda n: None,
           parts: list[Part] | None = None,
           cancelled: Callable[[], bool] = lambda: False) -> list[tuple[str, int]]:
    """Write the parts of [start, end] not written before; (file, rows) of those written.
    ``cancelled`` is asked between chunks: True stops with :class:`Cancelled` (the file
    being written stays a ``.part``, written again by the next run)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out)
    written = []
    for part in parts if parts is not None else plan(store, start, end, kinds, tz):
        name = part.name(fmt, tz)
        if manifest.done(name, part):
            continue
        path = out / name
        rows = 0
        if count(store, part):  # no file for a kind without rows that week
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            write = _write_parquet if fmt == "parquet" else _write_ndjson
            rows = write(store, part, tmp, progress, cancelled)
            os.replace(tmp, path)
        manifest.add(name, part, rows)
        written.append((name, rows))
    return written
