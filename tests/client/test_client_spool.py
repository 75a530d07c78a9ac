"""The spool: batches on disk until acknowledged, replayed on the next start, stored once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from client_helpers import FAST, KEY, FakeServer

from logcycle.client import Logger

DOWN = "http://127.0.0.1:9"  # nothing listens there


def _segments(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.seg"))


def _keys(spool: Path) -> set[str]:
    return {json.loads(p.read_bytes().split(b"\n", 1)[0])["key"] for p in _segments(spool)}


def _wait_spooled(logger: Logger, n: int) -> None:
    deadline = time.monotonic() + 5
    while logger.stats().spooled < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logger.stats().spooled == n


def test_outage_keeps_everything_on_disk_and_replays_it(
        tmp_path: Path, fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    spool = tmp_path / "spool"
    down = make_logger(DOWN, spool_dir=spool, max_batch=100, max_queue=150)
    for i in range(1000):  # far more than max_queue: the worker keeps moving them to disk
        down.log_error(f"e{i}", "Mod")
        if i % 100 == 99:
            _wait_spooled(down, i + 1)
    assert not down.close(0.3)
    stats = down.stats()
    assert (stats.sent, stats.dropped, stats.queued, stats.spooled) == (0, {}, 1000, 1000)
    keys = _keys(spool)
    assert len(keys) == 10 and not list(spool.glob("*.lock"))

    up = make_logger(fake.url, spool_dir=spool)
    assert up.flush(5)
    assert sorted(e["message"] for e in fake.stored()) == sorted(f"e{i}" for i in range(1000))
    assert {s.headers["Idempotency-Key"] for s in fake.requests} == keys
    assert _segments(spool) == [] and up.stats().sent == 1000


def test_a_killed_process_loses_nothing_it_had_spooled(tmp_path: Path,
                                                       fake: FakeServer) -> None:
    spool = tmp_path / "spool"
    code = f"""
import os, time
from logcycle.client import Logger
logger = Logger({DOWN!r}, {KEY!r}, spool_dir={str(spool)!r}, flush_interval=0.02)
for i in range(300):
    logger.log_error(f"e{{i}}", "Mod")
while logger.stats().spooled < 300:
    time.sleep(0.01)
os.kill(os.getpid(), 9)
"""
    proc = subprocess.run([sys.executable, "-c", code],
                          timeout=30, capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert list(spool.glob("*.lock"))  # the dead owner's lock file is left behind
    with Logger(fake.url, KEY, spool_dir=spool, **FAST) as logger:
        assert logger.flush(5)
    assert len(fake.stored()) == 300
    assert not _segments(spool) and not list(spool.glob("*.lock"))


def test_a_batch_sent_twice_after_a_crash_keeps_its_key(
        tmp_path: Path, fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    spool = tmp_path / "spool"
    first = make_logger(DOWN, spool_dir=spool)
    first.log_error("once", "Mod")
    _wait_spooled(first, 1)
    [key] = _keys(spool)
    first.close(0.1)
    # as if the server had stored it but the answer was lost: the replay uses the same key
    make_logger(fake.url, spool_dir=spool).flush(5)
    make_logger(fake.url, spool_dir=spool).flush(5)
    assert [s.headers["Idempotency-Key"] for s in fake.requests] == [key]


def test_a_live_owner_keeps_its_segments(tmp_path: Path, fake: FakeServer,
                                         make_logger: Callable[..., Logger]) -> None:
    spool = tmp_path / "spool"
    alive = make_logger(DOWN, spool_dir=spool)
    alive.log_error("from the live one", "Mod")
    _wait_spooled(alive, 1)
    other = make_logger(fake.url, spool_dir=spool)
    other.log_error("from the other", "Mod")
    assert other.flush(5)
    assert [e["message"] for e in fake.stored()] == ["from the other"]
    alive.close(0.1)
    assert make_logger(fake.url, spool_dir=spool).flush(5)
    assert [e["message"] for e in fake.stored()] == ["from the other", "from the live one"]


def test_a_corrupt_segment_is_set_aside_and_reported(
        tmp_path: Path, fake: FakeServer, make_logger: Callable[..., Logger],
        capsys: pytest.CaptureFixture[str]) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "0000000000000001-1-aaaaaa.0000000001.seg").write_bytes(b"not a header\n[]")
    (spool / "0000000000000001-1-aaaaaa.0000000002.tmp").write_bytes(b"half written")
    logger = make_logger(fake.url, spool_dir=spool, spool_fsync=False)
    logger.log_error("fine", "Mod")
    assert logger.flush(5)
    assert len(fake.stored()) == 1
    assert len(list(spool.glob("*.bad"))) == 1 and not list(spool.glob("*.tmp"))
    logger.close(1)
    assert "unreadable spool segment" in capsys.readouterr().err


def test_a_full_spool_falls_back_to_counted_drops(tmp_path: Path,
                                                  make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(DOWN, spool_dir=tmp_path / "spool", spool_max_bytes=2000,
                         max_queue=20, max_batch=10)
    for i in range(500):
        logger.log_error(f"e{i}", "Mod")
        if i % 10 == 9:
            time.sleep(0.002)
    logger.close(2)  # the server is down: close spends its timeout, then stops
    stats = logger.stats()
    assert stats.dropped.get("queue_full", 0) > 0 and "shutdown" not in stats.dropped
    assert stats.total == 500 and stats.queued == stats.spooled


def test_an_unusable_spool_dir_is_reported_and_memory_used(
        tmp_path: Path, fake: FakeServer, make_logger: Callable[..., Logger],
        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    logger = make_logger(fake.url, spool_dir=blocker / "spool")
    logger.log_error("still sent", "Mod")
    assert logger.flush(5)
    assert len(fake.stored()) == 1
    logger.close(1)
    assert "spool disabled" in capsys.readouterr().err
