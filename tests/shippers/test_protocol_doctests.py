"""The examples in the docstrings of the protocol adapters run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["common", "es_bulk", "loki", "clef", "syslog", "rows"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"logcycle.ingest.protocols.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
