"""The docs keep up with the code: every setting and command is documented, and the
README's quick-start example works word for word against a real server."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from logcycle.settings import FIELDS, env_name, option_name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()


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


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.mark.slow
def test_readme_example_word_for_word(tmp_path: Path, server_factory: Any) -> None:
    if not port_free(5380):
        pytest.skip("port 5380 is taken: the README example talks to the default port")
    s = server_factory(data=tmp_path / "data", env={"LOGCYCLE_API_KEY": "dev-key"})
    s.port, s.url = 5380, "http://127.0.0.1:5380"
    s.start()
    example = next(b for b in shell_blocks(README) if "/api/v1/events -d" in b)
    out = subprocess.run(["bash", "-e", "-c", example], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert '{"ids":[1,2]}' in out
    assert '"message":"payment refused"' in out
    assert '"top_level":[{"kind":"screen"' in out
    records = next(b for b in shell_blocks(README) if "/api/v1/entities/orders" in b)
    out = subprocess.run(["bash", "-e", "-c", records], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert '"table":"record_orders"' in out and '{"ids":[1]}' in out
    (python,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    subprocess.run([sys.executable, "-c", python], check=True, timeout=60)
    listed = httpx.get(s.url + "/api/v1/events", params={"kind": "error", "q": "payment"},
                       headers={"Authorization": "dev-key"}).json()["events"]
    assert len(listed) == 2 and listed[0]["detail"] == "HTTP 402"
    s.stop()
