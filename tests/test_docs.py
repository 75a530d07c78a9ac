"""The docs keep up with the code: every setting and command is documented, and the
README's quick-start example works word for word against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from logcycle.settings import FIELDS, env_name, option_name
from tests.conftest import ADMIN

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()
CLIENT_DOC = (ROOT / "docs" / "client.md").read_text()


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{option_name(name)}`" in SETTINGS_DOC
    assert f"`{env_name(name)}`" in SETTINGS_DOC


@pytest.mark.parametrize("command", ["serve", "keys create", "keys list", "keys revoke",
                                     "maintain", "export"])
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"logcycle {command}" in README


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


DEFAULT_URL = "http://127.0.0.1:5380"


def on(url: str, block: str) -> str:
    """A documented example aimed at the server under test (on a free port, never 5380:
    a `make run` may hold it) instead of the default address; nothing else changes."""
    assert DEFAULT_URL in block
    return block.replace(DEFAULT_URL, url)


@pytest.mark.slow
def test_readme_example_word_for_word(tmp_path: Path, server_factory: Any) -> None:
    s = server_factory(data=tmp_path / "data", env={"LOGCYCLE_API_KEY": "dev-key"})
    s.start()
    example = next(b for b in shell_blocks(README) if "/api/v1/events -d" in b)
    out = subprocess.run(["bash", "-e", "-c", on(s.url, example)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert '{"ids":[1,2]}' in out
    assert '"message":"payment refused"' in out
    assert '"top_level":[{"kind":"screen"' in out
    records = next(b for b in shell_blocks(README) if "/api/v1/entities/orders" in b)
    out = subprocess.run(["bash", "-e", "-c", on(s.url, records)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert '"table":"record_orders"' in out and '{"ids":[1]}' in out
    client, handler = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    subprocess.run([sys.executable, "-c", on(s.url, client)], check=True, timeout=60)
    listed = httpx.get(s.url + "/api/v1/events", params={"kind": "error", "q": "payment"},
                       headers={"Authorization": "dev-key"}).json()["events"]
    assert len(listed) == 2 and listed[0]["detail"] == "HTTP 402"
    subprocess.run([sys.executable, "-c", on(s.url, handler)], check=True, timeout=60)
    info = httpx.get(s.url + "/api/v1/events", params={"q": "checkout opened"},
                     headers={"Authorization": "dev-key"}).json()["events"]
    assert [(e["message_type"], e["module_name"]) for e in info] == [("Information", "shop")]
    s.stop()


@pytest.mark.slow
def test_keys_doc_example_word_for_word(tmp_path: Path, server_factory: Any) -> None:
    """docs/keys.md: a prefix key made while the server runs works at once and sees no
    other source."""
    s = server_factory(data=tmp_path / "data")
    s.start()
    httpx.post(s.url + "/api/v1/events", headers={"Authorization": ADMIN}, json=[
        {"kind": "general", "instant": 0, "message": "secret", "src": "prod/api"}])
    (example,) = [b for b in shell_blocks((ROOT / "docs" / "keys.md").read_text())
                  if "--src-prefix" in b]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", on(s.url, example)],
                         capture_output=True,
                         text=True, timeout=60, check=True, cwd=tmp_path, env=env).stdout
    assert out.strip() == '{"events":[],"next":null}'
    s.stop()


@pytest.mark.slow
def test_client_quick_start_word_for_word(tmp_path: Path, server_factory: Any) -> None:
    s = server_factory(data=tmp_path / "data", env={"LOGCYCLE_API_KEY": "dev-key"})
    s.start()
    quick = re.findall(r"```python\n(.*?)```", CLIENT_DOC, flags=re.S)[0]
    run = subprocess.run([sys.executable, "-c", on(s.url, quick)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    listed = httpx.get(s.url + "/api/v1/events", headers={"Authorization": "dev-key"}).json()
    assert {e["kind"] for e in listed["events"]} == {"error", "request_event", "general", "screen"}
    wrong = quick.replace('"dev-key"', '"not-a-key"')
    run = subprocess.run([sys.executable, "-c", on(s.url, wrong)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0  # flush() said so
    assert "ERROR: the logcycle server refused this client's API key" in run.stderr


@pytest.mark.slow
def test_eventlog_example_word_for_word(tmp_path: Path, server_factory: Any) -> None:
    """After the README's example (ids 1 and 2 are a screen and an error), the Event Log
    example still finds the event log it created, by the id the create call answered."""
    s = server_factory(data=tmp_path / "data", env={"LOGCYCLE_API_KEY": "dev-key"})
    s.start()
    readme = next(b for b in shell_blocks(README) if "/api/v1/events -d" in b)
    subprocess.run(["bash", "-e", "-c", on(s.url, readme)], capture_output=True, timeout=60,
                   check=True)
    (example,) = shell_blocks((ROOT / "docs" / "eventlog.md").read_text())[:1]
    out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", on(s.url, example)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    answers, rest = [], out.strip()
    while rest:  # curl prints the bodies one after the other, without newlines
        value, end = json.JSONDecoder().raw_decode(rest)
        answers.append(value)
        rest = rest[end:].lstrip()
    created = answers[0]["eventLog"]
    assert answers[-1] == {"eventLog": created} and created["id"] > 2
    assert answers[1]["total"] == 1
