"""The examples in the docstrings of the error-group and alert modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["logcycle.ingest.fingerprint", "logcycle.alerts.rules",
                                  "logcycle.alerts.conditions", "logcycle.query.selection",
                                  "logcycle.store.faults", "logcycle.api.schemas"])
def test_docstring_examples(name: str) -> None:
    assert doctest.testmod(importlib.import_module(name)).failed == 0
