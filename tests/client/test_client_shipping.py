"""The worker against a scripted server: batches, headers, retries, splits, rejections."""

from __future__ import annotations

import json
from collections.abc import Callable

from client_helpers import DROP, KEY, FakeServer, Seen

from logcycle.client import Logger


def _errors(logger: Logger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        logger.log_error(f"boom {i}", "Shop", instant=1_700_000_000_000 + i)


def test_events_are_batched_gzipped_and_keyed(fake: FakeServer,
                                              make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url, max_batch=100)
    _errors(logger, 250)
    assert logger.flush(5)
    assert [len(s.items) for s in fake.requests] == [100, 100, 50]
    first = fake.requests[0]
    assert first.path == "/api/v1/events"
    assert first.headers["Authorization"] == f"Bearer {KEY}"
    assert first.headers["Content-Encoding"] == "gzip"
    assert len({s.headers["Idempotency-Key"] for s in fake.requests}) == 3
    assert first.items[0] == {"kind": "error", "instant": 1_700_000_000_000,
                              "module_name": "Shop", "message": "boom 0"}
    stats = logger.stats()
    assert (stats.sent, stats.queued, stats.dropped, stats.batches) == (250, 0, {}, 3)


def test_one_keep_alive_connection(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url, max_batch=10)
    for round_ in range(3):
        _errors(logger, 10, round_ * 10)
        assert logger.flush(5)
    ports = {s.headers.get("X-Client-Port") for s in fake.requests}
    assert len(fake.requests) == 3 and ports == {None}
    assert logger._worker._transport._conn is not None  # still open, reused


def test_gzip_off(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    logger = make_logger(fake.url, gzip=False)
    _errors(logger, 3)
    assert logger.flush(5)
    assert "Content-Encoding" not in fake.requests[0].headers
    assert len(fake.stored()) == 3


def test_503_retry_after_is_honoured_with_the_same_key(
        fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    fake.script += [(503, {"error": {"code": "overloaded"}}, {"Retry-After": "0.2"}),
                    (429, None, {"Retry-After": "0"})]
    logger = make_logger(fake.url)
    _errors(logger, 5)
    assert logger.flush(5)
    keys = [s.headers["Idempotency-Key"] for s in fake.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    stats = logger.stats()
    assert (stats.sent, stats.retried, stats.dropped) == (5, 2, {})
    assert stats.details == {"retried:503": 1, "retried:429": 1}
    assert stats.last_error == "HTTP 429"


def test_dropped_connections_are_retried(fake: FakeServer,
                                         make_logger: Callable[..., Logger]) -> None:
    fake.script += [DROP, DROP, DROP]
    logger = make_logger(fake.url)
    _errors(logger, 4)
    assert logger.flush(5)
    assert len(fake.stored()) == 4
    assert len({s.headers["Idempotency-Key"] for s in fake.requests}) == 1
    assert logger.stats().retried >= 1


def test_unreachable_server_fills_the_queue_then_counts_drops(
        make_logger: Callable[..., Logger]) -> None:
    logger = make_logger("http://127.0.0.1:9", max_queue=50, max_batch=10)
    _errors(logger, 200)
    assert not logger.flush(0.2)
    assert not logger.close(0.3)
    stats = logger.stats()
    assert stats.sent == 0 and stats.dropped["queue_full"] >= 140
    assert stats.total == 200 and stats.queued == 0
    assert stats.dropped_total == 200  # the rest as "shutdown"


def test_413_splits_until_each_half_fits(fake: FakeServer,
                                         make_logger: Callable[..., Logger]) -> None:
    def too_large_over_2(seen: Seen) -> tuple[int, object, dict[str, str]]:
        if len(seen.items) > 2:
            return 413, {"error": {"code": "too_large", "message": "too many"}}, {}
        return 200, {"ids": list(range(len(seen.items)))}, {}

    fake.script += [too_large_over_2] * 10
    logger = make_logger(fake.url)
    _errors(logger, 8)
    assert logger.flush(5)
    assert sorted(e["message"] for e in fake.stored()) == sorted(f"boom {i}" for i in range(8))
    keys = [s.headers["Idempotency-Key"] for s in fake.ok_requests()]
    assert len(set(keys)) == 4 and all(k.endswith((".1", ".2")) for k in keys)
    assert logger.stats().sent == 8


def test_413_on_a_single_event_drops_it(fake: FakeServer,
                                        make_logger: Callable[..., Logger]) -> None:
    fake.script.append((413, {"error": {"code": "too_large"}}, {}))
    logger = make_logger(fake.url)
    _errors(logger, 1)
    assert not logger.flush(5)  # events were lost: flush() says so
    assert logger.stats().dropped == {"too_large": 1}


def test_400_drops_only_the_named_events(fake: FakeServer,
                                         make_logger: Callable[..., Logger]) -> None:
    errors = [{"index": 1, "field": "module_name", "message": "too long"},
              {"index": 3, "field": "instant", "message": "in the future"},
              {"index": 3, "field": "message", "message": "empty"}]
    fake.script.append((400, {"error": {"code": "invalid_event", "message": "bad",
                                        "errors": errors}}, {}))
    logger = make_logger(fake.url)
    _errors(logger, 5)
    assert not logger.flush(5)  # events were lost: flush() says so
    assert [e["message"] for e in fake.stored()] == ["boom 0", "boom 2", "boom 4"]
    retry_key = fake.requests[1].headers["Idempotency-Key"]
    assert retry_key == fake.requests[0].headers["Idempotency-Key"] + ".r"
    stats = logger.stats()
    assert stats.sent == 3 and stats.dropped == {"rejected": 2}
    assert stats.details == {"rejected:module_name": 1, "rejected:instant": 1}


def test_400_without_field_errors_drops_the_batch(fake: FakeServer,
                                                  make_logger: Callable[..., Logger]) -> None:
    fake.script.append((400, {"error": {"code": "invalid_json", "message": "?"}}, {}))
    logger = make_logger(fake.url)
    _errors(logger, 3)
    assert not logger.flush(5)  # events were lost: flush() says so
    assert logger.stats().dropped == {"rejected": 3}
    assert logger.stats().details == {"rejected:invalid_json": 3}


def test_401_drops_and_reports_once(fake: FakeServer, make_logger: Callable[..., Logger],
                                    capsys: object) -> None:
    fake.script += [(401, None, {}), (401, None, {})]
    logger = make_logger(fake.url, max_batch=2)
    _errors(logger, 4)
    assert not logger.flush(5)  # events were lost: flush() says so
    assert not logger.close(1)  # and so does close()
    assert logger.stats().dropped == {"unauthorized": 4}
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.count("ERROR: the logcycle server refused this client's API key") == 1


def test_persistent_500_is_dropped_after_a_few_tries(
        fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    fake.script += [(500, {"error": {"code": "internal"}}, {})] * 4
    logger = make_logger(fake.url)
    _errors(logger, 2)
    assert not logger.flush(5)  # events were lost: flush() says so
    stats = logger.stats()
    assert stats.dropped == {"server_error": 2} and stats.retried == 3


def test_records_go_to_their_entity(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    fake.script.append((404, {"error": {"code": "unknown_entity"}}, {}))
    logger = make_logger(fake.url)
    logger.log_record("ghosts", {"boo": True})
    assert not logger.flush(5)  # events were lost: flush() says so
    logger.log_record("orders", {"id": 1, "total": 9.5})
    logger.log_record("orders", {"id": 2, "total": 1.0})
    logger.log_error("x", "m")
    assert logger.flush(5)
    paths = sorted((s.path, json.dumps(s.items)) for s in fake.ok_requests())
    assert paths[1] == ("/api/v1/records/orders",
                        '[{"id": 1, "total": 9.5}, {"id": 2, "total": 1.0}]')
    assert paths[0][0] == "/api/v1/events"
    assert logger.stats().dropped == {"unknown_entity": 1}


def test_url_prefix_is_kept(fake: FakeServer, make_logger: Callable[..., Logger]) -> None:
    fake.script.append((404, {"error": {"code": "not_found"}}, {}))
    logger = make_logger(fake.url + "/logs/")
    _errors(logger, 1)
    assert not logger.flush(5)  # events were lost: flush() says so
    assert fake.requests[0].path == "/logs/api/v1/events"
    assert logger.stats().details == {"rejected:http_404": 1}
