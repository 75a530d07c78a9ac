"""Each adapter's translation counted in machine instructions, beside native JSON's decoder,
on one batch: steady where timings are not (the cores are shared), so two versions of the
code compare within a few tenths of a percent.

    .venv/bin/python bench/instructions.py [--base /path/to/other/src] [--events 1000]

Each figure is valgrind's (``callgrind``) count of instructions for six runs of the
translation less one run, over five, per event: the interpreter's start and the batch's
encoding cancel out. Needs valgrind (``apt-get install valgrind``); a run takes about
40 s a row (valgrind runs Python ~50x slower). ``--base SRC`` (a ``src`` directory of other
code, e.g. ``git archive main src | tar -x -C /tmp/base``) counts each row on that code
too. Rows: the routes' work in a protocol worker, the adapter straight to rows (what
``ingest/offload.py`` runs), and native JSON's ``decode_json`` (its validation) beside
them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
SETUP = """
import random, sys
sys.path.insert(0, {bench!r})
import protocols, common as bc
from datetime import UTC
from logcycle.ingest.decode import BatchDecoder
from logcycle.ingest.protocols import clef, es_bulk, loki, otlp_rows, rows, syslog
from logcycle.ingest.protocols.common import ClockRule
rng = random.Random(1)
now = 1_764_763_200_000
batch = [bc.event(rng, now - 1000 + i) for i in range(N)]
dec = BatchDecoder(max_future_ms=10**9, max_batch=10**6)
clock = ClockRule(now_ms=now, max_future_ms=10**9)
limit = rows.limit_of(dec, now)
fields = es_bulk.Fields.of("", "")
native = protocols.native_json(batch)
frames = syslog.Framer(1 << 20).feed(protocols.syslog_5424(batch))
bodies = dict(es=protocols.es_bulk(batch), loki=protocols.loki_protobuf(batch),
              clef=protocols.clef(batch), otlp=protocols.otlp_protobuf(batch))
"""
ROWS = {
    "native JSON: decode_json": "dec.decode_json(native, now_ms=now)",
    "OTLP protobuf: to rows": "otlp_rows.validated(bodies['otlp'], dec, now_ms=now)",
    "ES bulk: to rows": "es_bulk.parse_bulk(bodies['es'], None, fields, clock, limit)",
    "Loki protobuf: to rows": "loki.parse_protobuf(bodies['loki'], clock, 1 << 30, limit)",
    "CLEF: to rows": "clef.parse_clef(bodies['clef'], clock, limit)",
    "syslog: to rows": "syslog.parse_all(frames, clock, UTC, limit)",
}


def count(src: Path, expr: str, n: int, reps: int) -> int:
    """Instructions of the whole program with ``expr`` run ``reps`` times (after one run
    outside the count's difference: caches and memos warm)."""
    code = (f"import sys\nsys.path.insert(0, {str(src)!r})\nN = {n}\n"
            + SETUP.format(bench=str(HERE))
            + f"{expr}\nfor _ in range({reps}):\n    {expr}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              sys.executable, f.name], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=600,
                             check=False)
    finally:
        os.unlink(f.name)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise SystemExit(f"valgrind gave no count:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def per_event(src: Path, expr: str, n: int) -> float:
    return (count(src, expr, n, 5) - count(src, expr, n, 0)) / 5 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, help="another src directory, counted beside")
    ap.add_argument("--events", type=int, default=1000, help="events in the batch")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    head = f"{'row':<28} {'instructions an event':>22}"
    print(head + (f" {'on --base':>12} {'change':>8}" if args.base else ""), flush=True)
    for name, expr in ROWS.items():
        new = per_event(SRC, expr, args.events)
        line = f"{name:<28} {new:>22,.0f}"
        if args.base:
            old = per_event(args.base, expr, args.events)
            line += f" {old:>12,.0f} {(new - old) / old:>+8.1%}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
