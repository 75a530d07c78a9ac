"""docs/integrations.md: the OpenTelemetry and Sentry set-ups work word for word against a
real `logcycle serve` started as the docs say (LOGCYCLE_API_KEY=dev-key); only the port is
the test's own (a free one, not 5380), and each read-back prints what the doc shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess

DOC = (Path(__file__).resolve().parent.parent / "docs" / "integrations.md").read_text()
pytestmark = pytest.mark.slow


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end if end > 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture
def dev_server(tmp_path: Path, server_factory: Any) -> Iterator[ServerProcess]:
    server: ServerProcess = server_factory(data=tmp_path / "data",
                                           env={"LOGCYCLE_API_KEY": "dev-key"})
    yield server.start()


def here(text: str, server: ServerProcess) -> str:
    return text.replace("127.0.0.1:5380", f"127.0.0.1:{server.port}")


def run_python(code: str, server: ServerProcess, setup: str = "") -> None:
    """``code`` in a fresh interpreter, after the shell lines of ``setup``."""
    script = f'{here(setup, server)}\nexec "{sys.executable}" -c "$DOC_PYTHON"\n'
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "SENTRY_"))}
    subprocess.run(["bash", "-e", "-c", script], env={**env, "DOC_PYTHON": here(code, server)},
                   check=True, timeout=120)


def check_read_back(block: str, server: ServerProcess) -> None:
    """Runs the block's commands; each ``# …`` line below a command is what it prints,
    with ``...`` for the parts left out."""
    out = subprocess.run(["bash", "-e", "-c", here(block, server)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    pos = 0
    for line in block.splitlines():
        if not line.startswith("# "):
            continue
        for piece in filter(None, (p.strip() for p in line[2:].split("..."))):
            found = out.find(piece, pos)
            assert found >= 0, f"{piece!r} is not in what the commands printed:\n{out}"
            pos = found + len(piece)


def test_opentelemetry_set_up_word_for_word(dev_server: ServerProcess) -> None:
    text = section("OpenTelemetry")
    env, read_back = blocks(text, "sh")
    python, = blocks(text, "python")
    run_python(python, dev_server, setup=env)
    check_read_back(read_back, dev_server)


def test_sentry_set_up_word_for_word(dev_server: ServerProcess) -> None:
    text = section("Sentry")
    python, = blocks(text, "python")
    read_back, = blocks(text, "sh")
    run_python(python, dev_server)
    check_read_back(read_back, dev_server)
