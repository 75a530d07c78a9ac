"""LogcycleHandler: logging records as general and error events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from client_helpers import FakeServer

from logcycle.client import (
    LogcycleHandler,
    Logger,
    RequestKeyMiddleware,
    current_request_key,
    request_context,
)


@pytest.fixture
def app_log(fake: FakeServer, make_logger: Callable[..., Logger]) -> Iterator[logging.Logger]:
    log = logging.getLogger("shop.checkout")
    handler = LogcycleHandler(make_logger(fake.url))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    log.removeHandler(handler)
    log.propagate = True


def _stored(fake: FakeServer, log: logging.Logger) -> list[dict[str, object]]:
    handler = log.handlers[0]
    assert isinstance(handler, LogcycleHandler)
    assert handler.logger.flush(5)
    return fake.stored()


def test_levels_become_message_types(fake: FakeServer, app_log: logging.Logger) -> None:
    app_log.debug("d")
    app_log.info("i %s", "arg")
    app_log.warning("w")
    app_log.error("e")
    app_log.critical("c")
    app_log.log(25, "between")
    events = _stored(fake, app_log)
    assert [(e["kind"], e["message"], e["message_type"]) for e in events] == [
        ("general", "d", "Debug"), ("general", "i arg", "Information"),
        ("general", "w", "Information"), ("general", "e", "Error"), ("general", "c", "Error"),
        ("general", "between", "Information")]
    # The Event Log API's three types, and the level itself beside them (a WARNING is
    # findable as attributes.level:WARNING, and the Event Log API returns it).
    assert [e["attributes"]["level"] for e in events] == [
        "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "Level 25"]
    assert {e["module_name"] for e in events} == {"shop.checkout"}
    assert all(isinstance(e["instant"], int) for e in events)


def test_exceptions_become_error_events(fake: FakeServer, app_log: logging.Logger) -> None:
    try:
        {}["missing"]
    except KeyError:
        app_log.exception("lookup failed for %s", "order 7")
    [event] = _stored(fake, app_log)
    assert event["kind"] == "error" and event["message"] == "lookup failed for order 7"
    assert event["module_name"] == "shop.checkout"
    detail = event["detail"]
    assert isinstance(detail, str)
    assert detail.startswith("Traceback") and "KeyError: 'missing'" in detail
    assert event["attributes"] == {"level": "ERROR"}


def test_extra_fields_are_carried(fake: FakeServer, app_log: logging.Logger) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    with request_context("rk-9"):
        app_log.info("paid", extra={"order": 7, "tags": ["a"], "thing": Opaque(),
                                    "action_name": "Pay"})
    app_log.warning("keyed", extra={"request_key": "rk-x"})
    first, second = _stored(fake, app_log)
    assert first["attributes"] == {"order": 7, "tags": ["a"], "thing": "<opaque>",
                                   "level": "INFO"}
    assert first["action_name"] == "Pay" and first["request_key"] == "rk-9"
    assert second["request_key"] == "rk-x" and second["attributes"] == {"level": "WARNING"}


def test_stack_info_is_kept(fake: FakeServer, app_log: logging.Logger) -> None:
    app_log.info("where", stack_info=True)
    [event] = _stored(fake, app_log)
    attributes = event["attributes"]
    assert isinstance(attributes, dict) and "Stack (most recent call last)" in str(
        attributes["stack_info"])


def test_one_line_wiring_on_the_root_logger(fake: FakeServer,
                                            make_logger: Callable[..., Logger]) -> None:
    root = logging.getLogger()
    handler = LogcycleHandler(make_logger(fake.url))
    root.addHandler(handler)
    try:
        logging.getLogger("any.module").warning("through the root")
    finally:
        root.removeHandler(handler)
    assert handler.logger.flush(5)
    assert [e["message"] for e in fake.stored()] == ["through the root"]


def test_wsgi_keeps_the_request_key_until_the_response_is_closed(
        fake: FakeServer, app_log: logging.Logger) -> None:
    """A real WSGI server (wsgiref) iterates the body and closes it after the app returned:
    what is logged then still carries the request's key, and nothing leaks past it."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        app_log.info("called")

        def body() -> Iterator[bytes]:
            try:
                app_log.warning("while the body is iterated")
                yield b"one "
                yield b"two"
            finally:
                app_log.warning("when the response is closed")
        return body()

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    seen_after: list[str | None] = []
    httpd = make_server("127.0.0.1", 0, RequestKeyMiddleware(app), handler_class=Quiet)
    thread = threading.Thread(target=lambda: (httpd.handle_request(),
                                              seen_after.append(current_request_key())))
    thread.start()
    answer = httpx.get(f"http://127.0.0.1:{httpd.server_port}/",
                       headers={"X-Request-Id": "rk-wsgi-1"}, timeout=10)
    assert answer.content == b"one two"
    thread.join(10)
    httpd.server_close()
    events = _stored(fake, app_log)
    assert [(e["message"], e["request_key"]) for e in events] == [
        ("called", "rk-wsgi-1"), ("while the body is iterated", "rk-wsgi-1"),
        ("when the response is closed", "rk-wsgi-1")]
    assert seen_after == [None]  # the server's thread does not keep it
