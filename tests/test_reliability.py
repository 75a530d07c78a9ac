"""Short runs of the reliability benchmarks (bench/crashloop.py, bench/overload.py) on a
real server: each exits non-zero when an acknowledged event is lost, a retried batch is
stored twice, a rejection is not a 503 with Retry-After, or memory passes its bound.
docs/reliability.md gives the figures of the full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from logcycle.store import faults

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(name: str, tmp_path: Path, *args: str, timeout: float) -> dict[str, Any]:
    out = tmp_path / f"{name}.json"
    r = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *args, "--json", str(out)],
                       capture_output=True, text=True, timeout=timeout, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_crash_loop_loses_nothing_acknowledged_and_stores_retries_once(tmp_path: Path) -> None:
    r = run_bench("crashloop", tmp_path, "--iterations", "5", "--dir", str(tmp_path / "w"),
                  timeout=120)
    its = r["iterations"]
    assert len(its) == 5 and r["ok"]
    assert all(i["lost"] == i["duplicates"] == i["search_wrong"] == 0 and i["integrity"] == "ok"
               and i["ready_s"] < 5 for i in its)
    assert sum(i["acked_before_kill"] for i in its) > 0
    assert sum(i["in_flight"] for i in its) > 0  # some batches were retried after a kill


def test_overload_is_answered_with_503_and_retrying_clients_deliver_everything(
        tmp_path: Path) -> None:
    r = run_bench("overload", tmp_path, "--seconds", "6", "--calm", "1", "--write-rate", "3000",
                  "--max-pending", "10000", "--flooders", "2", "--loggers", "2",
                  "--logger-rate", "300", timeout=120)
    assert r["bad_count"] == 0 and r["rejected_503"] > 0 and r["accepted"] > 0
    assert r["flood_stored"] == r["flood_acknowledged"]
    assert r["rss_max_mb"] < r["rss_limit_mb"]
    assert r["delivered"] and r["steady_stored"] == r["logged"] > 0
    assert r["steady_duplicates"] == 0 and r["client_dropped"] == 0


def test_the_fault_knobs_are_documented_as_for_testing_only() -> None:
    doc = (BENCH.parent / "docs" / "reliability.md").read_text()
    for name in (faults.RATE_ENV, faults.FILE_ENV):
        assert f"`{name}" in doc
    assert "(for testing only)" in doc and "Never set them" in doc
