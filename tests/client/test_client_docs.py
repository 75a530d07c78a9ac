"""docs/client.md: its examples run as written, and it documents every option and reason."""

from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path

from client_helpers import FakeServer

from logcycle.client import DROP_REASONS, LogcycleHandler, Logger

DOC = Path(__file__).parents[2] / "docs" / "client.md"


def test_examples_run_as_written(fake: FakeServer, tmp_path: Path) -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_example"}
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        for block in blocks:
            code = block.replace("http://127.0.0.1:5380", fake.url)
            code = code.replace("/var/spool/myapp-logs", str(tmp_path / "spool"))
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        added = [h for h in root.handlers if h not in before]
        for handler in added:
            root.removeHandler(handler)
        root.setLevel(level)
    loggers = [v for v in namespace.values() if isinstance(v, Logger)]
    loggers += [h.logger for h in added if isinstance(h, LogcycleHandler)]
    for logger in loggers:
        assert logger.close(5)
        assert logger.stats().dropped in ({}, {"unknown_entity": 1})
    messages = {e.get("message") for e in fake.stored()}
    assert {"payment provider timed out", "stock low for SKU-1", "cannot compute the discount",
            "card declined", "handled 2"} <= messages


def test_every_option_and_drop_reason_is_documented() -> None:
    text = DOC.read_text()
    options = [name for name, p in inspect.signature(Logger).parameters.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for name in options:
        assert f"`{name}`" in text, name
    for reason in DROP_REASONS:
        assert f"`{reason}`" in text, reason
