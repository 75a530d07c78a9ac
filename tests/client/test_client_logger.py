"""The Logger's promises to the application: never block, never raise, count everything."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable

import pytest
from client_helpers import KEY, FakeServer, Seen

from logcycle.client import (
    ConfigError,
    InvalidEventError,
    Logger,
    current_request_key,
    request_context,
)


def test_bad_calls_are_counted_and_reported_once(fake: FakeServer,
                                                 make_logger: Callable[..., Logger],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    logger = make_logger(fake.url)
    for _ in range(3):
        logger.log_error(42, "Mod")  # type: ignore[arg-type]
        logger.log("no_such_kind", message="x")
        logger.log_record("Bad Name", {"a": 1})
        logger.log("screen", screen="home")  # misses duration_ms and request_key
    logger.log_error("fine", "Mod")
    assert not logger.flush(5)  # calls were lost: flush() says so
    assert logger.stats().dropped == {"invalid": 12}
    assert logger.stats().sent == 1
    logger.close(1)
    assert capsys.readouterr().err.count("invalid log call") == 1


def test_strict_mode_raises_for_bad_calls(fake: FakeServer,
                                          make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url, strict=True)
    with pytest.raises(InvalidEventError):
        logger.log_error(42, "Mod")  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError):
        logger.log("no_such_kind", message="x")
    with pytest.raises(InvalidEventError):
        logger.log_error("x", "Mod", instant=[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError):
        logger.log_record("Bad Name", {})
    with pytest.raises(InvalidEventError):
        logger.log_request_event("rk", "ev", "mk", "mn", "ak", "an",
                                 request_event_details="no")  # type: ignore[arg-type]
    logger.log("general", message="ok")
    assert logger.flush(5)
    assert logger.stats().dropped == {} and logger.stats().sent == 1


def test_bad_options_raise_config_error() -> None:
    for url, options in [("ftp://x", {}), ("http://h", {"max_batch": 0}),
                         ("http://h", {"max_batch": 20_000}), ("http://h", {"timeout": -1}),
                         ("http://h", {"flush_interval": float("nan")})]:
        with pytest.raises(ConfigError):
            Logger(url, KEY, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Logger("http://h", "")


def test_full_queue_drops_new_calls_without_blocking(make_logger: Callable[..., Logger]) -> None:
    logger = make_logger("http://127.0.0.1:9", max_queue=100)
    for i in range(5000):
        logger.log_error(f"e{i}", "Mod")
    stats = logger.stats()
    assert stats.dropped["queue_full"] >= 4800
    assert stats.total == 5000


def test_calls_after_close_are_counted(fake: FakeServer,
                                       make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url)
    logger.log_error("before", "Mod")
    assert logger.close(2)
    logger.log_error("after", "Mod")
    logger.log("general", message="after")
    assert logger.closed and logger.close(1)
    assert logger.stats().dropped == {"closed": 2} and logger.stats().sent == 1
    assert logger.flush(0.1)


def test_request_key_comes_from_the_context(fake: FakeServer,
                                            make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url)
    with request_context("rk-1") as key:
        assert current_request_key() == key == "rk-1"
        logger.log_error("a", "Mod")
        logger.log_error("b", "Mod", request_key="explicit")
        logger.log("general", message="c")
    logger.log_error("d", "Mod")
    assert current_request_key() is None
    assert logger.flush(5)
    keys = {e["message"]: e.get("request_key") for e in fake.stored()}
    assert keys == {"a": "rk-1", "b": "explicit", "c": "rk-1", "d": None}


def test_request_events_and_every_kind(fake: FakeServer,
                                       make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url)
    logger.log_request_event("rk", "Login", "mk", "Auth", "ak", "Portal", instant=7,
                             request_event_details={"user": "u1"})
    logger.log("screen", instant=8, duration_ms=12, screen="Home", request_key="rk")
    assert logger.flush(5)
    assert fake.stored() == [
        {"kind": "request_event", "instant": 7, "request_key": "rk", "request_event_name":
         "Login", "module_key": "mk", "module_name": "Auth", "application_key": "ak",
         "application_name": "Portal", "request_event_details": {"user": "u1"}},
        {"kind": "screen", "instant": 8, "duration_ms": 12, "screen": "Home",
         "request_key": "rk"}]


def test_flush_and_close_wait_at_most_their_timeout(fake: FakeServer,
                                                    make_logger: Callable[..., Logger]) -> None:
    def hang(seen: Seen) -> tuple[int, object, dict[str, str]]:
        time.sleep(3)
        return 200, {"ids": []}, {}

    fake.script.append(hang)
    logger = make_logger(fake.url)
    logger.log_error("x", "Mod")
    started = time.monotonic()
    assert not logger.flush(0.3)
    assert not logger.close(0.5)
    assert time.monotonic() - started < 0.8 + 1.0  # generous: a loaded machine
    time.sleep(0.1)
    stats = logger.stats()
    assert stats.total == 1 and stats.dropped == {"shutdown": 1}


def test_many_threads_lose_nothing(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url, max_batch=500)

    def work(t: int) -> None:
        for i in range(2000):
            logger.log_error(f"{t}-{i}", "Mod")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert logger.flush(10)
    messages = [e["message"] for e in fake.stored()]
    assert len(messages) == len(set(messages)) == 12_000
    assert logger.stats().sent == 12_000


def test_usable_from_asyncio(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url)

    async def main() -> bool:
        async def request(n: int) -> None:
            with request_context(f"rk-{n}"):
                await asyncio.sleep(0)
                logger.log_error("in task", "Mod")

        await asyncio.gather(*(request(n) for n in range(5)))
        assert await logger.aflush(5)
        return await logger.aclose(2)

    assert asyncio.run(main())
    assert sorted(e["request_key"] for e in fake.stored()) == [f"rk-{n}" for n in range(5)]


def test_context_manager_closes(fake: FakeServer) -> None:
    with Logger(fake.url, KEY, flush_interval=10) as logger:
        logger.log_error("x", "Mod")
    assert logger.closed and len(fake.stored()) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_gets_a_fresh_worker_and_empty_queue(
        fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    logger = make_logger("http://127.0.0.1:9", max_queue=1000)  # parent: unreachable
    logger.log_error("parent", "Mod")
    logger._config = logger._config.__class__.make(fake.url, KEY, flush_interval=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # the child: its own queue, worker and counters
        code = 1
        try:
            fresh = logger.stats().queued == 0
            logger.log_error("child", "Mod")
            code = 0 if fresh and logger.flush(5) and logger.stats().sent == 1 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e["message"] for e in fake.stored()] == ["child"]
    assert logger.stats().queued == 1 and logger.stats().sent == 0


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_interpreter_exit_flushes(fake: FakeServer) -> None:
    proc = _run(f"""
from logcycle.client import Logger
logger = Logger({fake.url!r}, {KEY!r}, flush_interval=60)
for i in range(10):
    logger.log_error(f"at exit {{i}}", "Mod")
raise SystemExit("the application ends with an error")
""")
    assert proc.returncode == 1
    assert len(fake.stored()) == 10


def test_exit_waits_for_loggers_together_not_one_after_another() -> None:
    proc = _run("""
import time, atexit
started = time.monotonic()
atexit.register(lambda: print(round(time.monotonic() - started, 2)))
from logcycle.client import Logger
loggers = [Logger("http://127.0.0.1:9", "k", shutdown_timeout=1.0) for _ in range(4)]
for logger in loggers:
    logger.log_error("lost", "Mod")
""")
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) < 3.5  # 4 x 1 s one after another would be 4 s
    assert proc.stderr.count("cannot reach") == 4
