"""docs/export.md word for word: its `logcycle export` command and its DuckDB queries over
the export and over the archive."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pytest

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.tasks import EventBatch
from logcycle.settings import Settings
from logcycle.store.archive import Archiver
from logcycle.store.factory import make_store
from tests.conftest import T0

DOC = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
SCREENS = [("Checkout", 100), ("Checkout", 900), ("Cart", 50)]


def test_the_documented_command_and_queries(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = make_store(Settings(data=tmp_path / "data"))
    store.open(T0)
    events = [{"kind": "screen", "instant": T0, "duration_ms": d, "screen": s,
               "request_key": "r"} for s, d in SCREENS]
    events.append({"kind": "error", "instant": T0, "module_name": "m", "message": "boom"})
    batch = BatchDecoder(max_future_ms=10**9, max_batch=100).decode_json(
        orjson.dumps(events), now_ms=T0).events
    store.apply([EventBatch(batch, None, "t")], T0)
    Archiver(store, tmp_path / "archive", tz=store.tz,  # type: ignore[attr-defined]
             clock=ManualClock(T0 + WEEK_MS)).run_once()
    store.close()

    (command,) = re.findall(r"```sh\n(.*?)```", DOC, flags=re.S)
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "logcycle"
    subprocess.run([sys.executable, "-m", "logcycle", *words[1:]], check=True,
                   capture_output=True)
    export_sql, archive_sql = re.findall(r"```sql\n(.*?)```", DOC, flags=re.S)
    con = duckdb.connect()
    assert con.execute(export_sql).fetchall() == [("Checkout", 2, 900.0), ("Cart", 1, 50.0)]
    assert con.execute(archive_sql).fetchall() == [(1,)]
