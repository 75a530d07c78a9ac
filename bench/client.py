"""Client benchmark: the cost of one log call beside its peers, and events/s end to end.

    python bench/client.py [--calls 200000] [--events 200000]

1. Median cost of one call on the application's thread, measured in the same run for:
   logcycle's ``Logger.log_error``; ``logging.getLogger().error`` through the standard
   library's non-blocking ``QueueHandler`` (a ``QueueListener`` draining it); and, when
   ``opentelemetry-sdk`` is installed, OpenTelemetry's ``LoggingHandler`` with a
   ``BatchLogRecordProcessor``. Each runs with its background thread alive and shipping,
   so the numbers include the contention a real application sees. Samples of 1,000 calls
   are interleaved between the contenders so that machine noise hits all alike.
2. End to end: events/s from this one process to a local ``logcycle serve`` (started
   here as a subprocess), from the first call until ``flush()`` returns.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import KEY, Server

from logcycle.client import LogcycleHandler, Logger

SAMPLE = 1000  # calls per timed sample
MESSAGE = "payment provider timed out after 30 s while charging order 1234567"


def _sampler(call: Callable[[], None]) -> Callable[[], float]:
    """A function timing SAMPLE calls of ``call``; gives µs per call."""
    calls = range(SAMPLE)
    clock = time.perf_counter_ns

    def sample() -> float:
        started = clock()
        for _ in calls:
            call()
        return (clock() - started) / SAMPLE / 1000

    return sample


def _ours(url: str) -> tuple[Callable[[], None], Logger]:
    logger = Logger(url, KEY, max_queue=2_000_000)
    return (lambda: logger.log_error(MESSAGE, "Checkout")), logger


def _handler(logger: Logger) -> tuple[Callable[[], None], Callable[[], None]]:
    handler = LogcycleHandler(logger)
    log = logging.getLogger("bench.logcycle")
    log.propagate = False
    log.addHandler(handler)
    return (lambda: log.error(MESSAGE)), (lambda: log.removeHandler(handler))


def _stdlib() -> tuple[Callable[[], None], Callable[[], None]]:
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed in stop
    q: queue.SimpleQueue[Any] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(q, sink)
    root = logging.getLogger()
    handler = logging.handlers.QueueHandler(q)
    root.addHandler(handler)
    listener.start()
    log = logging.getLogger()

    def stop() -> None:
        root.removeHandler(handler)
        listener.stop()
        sink.stream.close()

    return (lambda: log.error(MESSAGE)), stop


def _otel() -> tuple[Callable[[], None], Callable[[], None]] | None:
    try:
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, export
    except ImportError:
        return None
    exporter = getattr(export, "InMemoryLogRecordExporter", None) or \
        export.InMemoryLogExporter
    provider = LoggerProvider()
    provider.add_log_record_processor(export.BatchLogRecordProcessor(exporter()))
    handler = LoggingHandler(logger_provider=provider)
    log = logging.getLogger("bench.otel")
    log.propagate = False
    log.addHandler(handler)

    def stop() -> None:
        log.removeHandler(handler)
        provider.shutdown()

    return (lambda: log.error(MESSAGE)), stop


def call_costs(url: str, calls: int) -> None:
    """Print the median µs per call of each contender."""
    call, logger = _ours(url)
    contenders: dict[str, Callable[[], float]] = {"logcycle Logger.log_error": _sampler(call)}
    handler_call, handler_stop = _handler(logger)
    contenders["logging.error → logcycle LogcycleHandler"] = _sampler(handler_call)
    std_call, std_stop = _stdlib()
    contenders["stdlib logging.error → QueueHandler"] = _sampler(std_call)
    otel = _otel()
    if otel is not None:
        contenders["OpenTelemetry LoggingHandler + BatchLogRecordProcessor"] = \
            _sampler(otel[0])
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(max(1, calls // SAMPLE)):
        for name, sample in contenders.items():
            samples[name].append(sample())
    std_stop()
    handler_stop()
    if otel is not None:
        otel[1]()
    logger.close(30)
    ours = statistics.median(samples["logcycle Logger.log_error"])
    print(f"\nCost of one call on the caller's thread ({calls:,} calls each, median of "
          f"{SAMPLE}-call samples)")
    print(f"{'':56} {'median µs':>10} {'p90 µs':>8} {'x ours':>7}")
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:56} {median:10.2f} {p90:8.2f} {median / ours:7.1f}")
    if otel is None:
        print("(OpenTelemetry: not installed; `pip install opentelemetry-sdk` to compare)")
    print(f"logcycle stats: {logger.stats().as_dict()}")


def unreachable(calls: int, spool_dir: str) -> None:
    """Median µs of log_error while nothing listens at the server's address."""
    print("\nServer unreachable (connection refused), default options")
    for label, spool in (("memory only", None), ("with spool_dir", spool_dir)):
        logger = Logger("http://127.0.0.1:9", KEY, spool_dir=spool)
        sample = _sampler(lambda logger=logger: logger.log_error(MESSAGE, "Checkout"))
        values = [sample() for _ in range(max(1, calls // SAMPLE))]
        logger.close(0.5)
        stats = logger.stats()
        print(f"{label:16} median {statistics.median(values):.2f} µs, p90 "
              f"{statistics.quantiles(values, n=10)[-1]:.2f} µs  (spooled={stats.spooled:,}, "
              f"dropped={stats.dropped})")


def end_to_end(url: str, events: int, gzip: bool) -> float:
    """Events/s from the first log_error until flush() returns."""
    logger = Logger(url, KEY, max_queue=events + 1, gzip=gzip)
    started = time.perf_counter()
    for i in range(events):
        logger.log_error(MESSAGE, "Checkout", request_key=f"rk-{i % 1000}")
    logged = time.perf_counter()
    flushed = logger.flush(300)
    elapsed = time.perf_counter() - started
    stats = logger.stats()
    logger.close(10)
    rate = stats.sent / elapsed
    print(f"gzip={'on ' if gzip else 'off'}  {events:,} events: logged in "
          f"{logged - started:.2f} s, all acknowledged in {elapsed:.2f} s → "
          f"{rate:,.0f} events/s  (flushed={flushed}, sent={stats.sent:,}, "
          f"dropped={stats.dropped_total}, batches={stats.batches})")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="logcycle-bench-") as tmp:
        server = Server(Path(tmp) / "data")
        try:
            print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; server {server.url}")
            call_costs(server.url, args.calls)
            print("\nEnd to end, one client process → local `logcycle serve` (SQLite)")
            for gzip in (True, False):
                end_to_end(server.url, args.events, gzip)
            unreachable(args.calls, str(Path(tmp) / "spool"))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
