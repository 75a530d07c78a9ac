"""`logcycle export`: every kind's fields round trip through Parquet (read back with
pyarrow and DuckDB) and NDJSON, on both stores; an interrupted export goes on where it
stopped; the command's files and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow.parquet as pq
import pytest

from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import EventBatch
from logcycle.kinds import KINDS
from logcycle.query.events import to_event
from logcycle.settings import Settings
from logcycle.store import export
from logcycle.store.base import Store
from logcycle.store.factory import make_store
from tests.conftest import T0

UTC = ZoneInfo("UTC")
TEXT = "Zürich ✓ 日本 \"quoted\" \\ 🚀"


def full_event(kind: str, i: int) -> dict[str, Any]:
    """Every field of ``kind`` set, with unicode text, JSON and the inline error."""
    ev: dict[str, Any] = {"kind": kind}
    for f in KINDS[kind].fields:
        t = f.type.value
        ev[f.name] = {"text": f"{TEXT} {f.name} {i}", "long": f"{TEXT}\nline 2 {i}",
                      "instant": T0 - 1000 + i, "number": 12.5 + i, "bool": i % 2 == 0,
                      "json": {"a": [1, None, TEXT]}, "object": {"rows": i, "t": TEXT},
                      "error": {"instant": T0, "module_name": "m", "message": f"err {i}"}}[t]
    ev["attributes"] = {"user": {"id": i, "name": TEXT}, "flag": None}
    return ev


def sparse_event(kind: str) -> dict[str, Any]:
    """Only the required fields: every optional one NULL."""
    return {"kind": kind, **{f.name: full_event(kind, 0)[f.name] for f in KINDS[kind].fields
                             if f.required}}


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Any:
    s = make_store(Settings(data=tmp_path / "data", store=store_url))
    s.open(T0)
    events = [e for k in KINDS for e in (full_event(k, 1), full_event(k, 2), sparse_event(k))]
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10**5).decode_json(
        orjson.dumps(events), now_ms=T0).events
    s.apply([EventBatch(batch, None, "t")], T0)
    yield s
    s.close()


def stored(store: Store, kind: str) -> list[dict[str, Any]]:
    names, rows = store.fetch(f"SELECT * FROM oslog_{kind}_3 ORDER BY id", [])
    return [to_event(kind, names, r) for r in rows]


def test_every_kind_round_trips_through_parquet(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=tuple(KINDS),
                            fmt="parquet", tz=UTC)
    assert len(written) == len(KINDS) and all(n > 0 for _, n in written)
    for kind in KINDS:
        (name,) = [n for n, _ in written if n.startswith(f"{kind}/")]
        table = pq.read_table(out / name)
        assert table.schema == export.arrow_schema(kind)
        assert pq.ParquetFile(out / name).metadata.row_group(0).column(0).compression == "ZSTD"
        got = table.to_pylist()
        want = stored(store, kind)
        assert len(got) == len(want)
        for row, ev in zip(got, want, strict=True):
            for col, value in row.items():
                expect = ev.get(col)
                if hasattr(value, "timestamp"):  # instants come back as UTC timestamps
                    value = round(value.timestamp() * 1000)
                elif col in export_json_columns(kind) and value is not None:
                    value, expect = orjson.loads(value), orjson.loads(orjson.dumps(expect))
                assert value == expect, (kind, col, value, expect)


def export_json_columns(kind: str) -> set[str]:
    return {f.name for f in KINDS[kind].fields if f.type.value in ("json", "object")} | {
        "attributes"}


def test_duckdb_reads_the_files(store: Store, tmp_path: Path) -> None:
    import duckdb

    out = tmp_path / "out"
    export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=("screen", "general"),
                  fmt="parquet", tz=UTC)
    con = duckdb.connect()
    rows = con.execute(f"SELECT screen, duration_ms, attributes->>'$.user.name' FROM "
                       f"read_parquet('{out}/screen/*.parquet') ORDER BY id").fetchall()
    assert rows == [(f"{TEXT} screen 1", 13.5, TEXT), (f"{TEXT} screen 2", 14.5, TEXT),
                    (f"{TEXT} screen 0", 12.5, None)]


def test_ndjson_lines_are_the_api_events(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=("error",),
                            fmt="ndjson", tz=UTC)
    (name, n), = written
    lines = [orjson.loads(line) for line in (out / name).read_bytes().splitlines()]
    assert n == len(lines) and lines == orjson.loads(orjson.dumps(stored(store, "error")))


def test_an_export_goes_on_where_it_stopped(store: Store, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    calls = 0
    real = export._write_parquet
    with pytest.raises(export.Cancelled):  # a stop asked for (server shutdown) stops it too
        export.export(store, tmp_path / "stopped", start=T0 - WEEK_MS, end=T0 + 1,
                      kinds=("error",), fmt="parquet", tz=UTC, cancelled=lambda: True)
    assert list((tmp_path / "stopped").rglob("*.parquet")) == []

    def fail_third(*args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk went away")
        return real(*args)

    monkeypatch.setattr(export, "_write_parquet", fail_third)
    with pytest.raises(OSError):
        export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=tuple(KINDS),
                      fmt="parquet", tz=UTC)
    first = json.loads((out / "manifest.json").read_text())["files"]
    assert len(first) == 2 and not list(out.rglob("*.parquet.part"))[1:]
    monkeypatch.setattr(export, "_write_parquet", real)
    again = export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=tuple(KINDS),
                          fmt="parquet", tz=UTC)
    assert len(again) == len(KINDS) - 2
    assert export.export(store, out, start=T0 - WEEK_MS, end=T0 + 1, kinds=tuple(KINDS),
                         fmt="parquet", tz=UTC) == []


def test_the_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    s = make_store(Settings(data=data))
    s.open(T0)
    batch = BatchDecoder(max_future_ms=10**9, max_batch=10**5).decode_json(
        orjson.dumps([full_event("screen", 1)]), now_ms=T0).events
    s.apply([EventBatch(batch, None, "t")], T0)
    s.close()
    cmd = [sys.executable, "-m", "logcycle", "export", "--data", str(data), "--start",
           "2026-11-16T00:00:00Z", "--end", "2026-11-30T00:00:00Z", "--kind", "screen",
           "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "wrote 1 files (1 rows)" in done.stdout
    assert (tmp_path / "out" / "screen" / "screen-week1403-2026-11-20.parquet").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "wrote 0 files (0 rows)" in again.stdout and "1 parts were done" in again.stdout
    bad = subprocess.run([*cmd[:-6], "--start", "soon", "--end", "1", "--out", "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--start" in bad.stderr
