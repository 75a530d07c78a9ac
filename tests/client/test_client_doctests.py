"""The short uses shown in the client's docstrings are true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import logcycle.client as client

MODULES = sorted(m.name for m in pkgutil.iter_modules(client.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"logcycle.client.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_reply_decisions_and_retry_after() -> None:
    from logcycle.client._replies import decide
    from logcycle.client._transport import Reply, retry_after

    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now
    assert retry_after("-5") == 0.0 and retry_after("1e9") == 3600.0
    assert decide(Reply(502, b""), attempts=50).action == "retry"
    assert decide(Reply(500, b"", 1.0), attempts=0).delay == 1.0
    assert decide(Reply(302, b""), attempts=0).rejected == {-1: "http_302"}
    assert decide(Reply(400, b"not json"), attempts=0).action == "drop"
