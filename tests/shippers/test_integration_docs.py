"""docs/integrations.md, log shipper sections: the blocks marked tested run word for word
against a real server (the variables URL, KEY and SYSLOG_PORT set as the page says), and
what they sent is read back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logcycle.api.auth import RELOAD_S
from logcycle.settings import Settings
from tests.conftest import free_port
from tests.shippers.conftest import Live
from tests.shippers.test_syslog import run_syslog_ng, wait_for

DOC = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
SECTIONS = ("Log shippers", "Elasticsearch and OpenSearch bulk", "Loki push", "Seq and CLEF",
            "Syslog")


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end if end > 0 else None]


SHIPPERS = "".join(section(t) for t in SECTIONS)
BLOCKS = re.findall(r"```sh\n(.*?)```", SHIPPERS, flags=re.S)
SETUP = next(b for b in BLOCKS if "SYSLOG_PORT=" in b)


@pytest.fixture
def live_settings(tmp_path: Path) -> Settings:
    port = free_port()
    return Settings(data=tmp_path / "data", syslog_tcp=port, syslog_udp=port)


def sh(script: str, cwd: Path, env: dict[str, str]) -> str:
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, "PATH": path, **env}, capture_output=True,
                          text=True, timeout=60, check=True).stdout


def test_shipper_examples_word_for_word(live: Live, tmp_path: Path) -> None:
    key_line = next(line for line in SETUP.splitlines() if line.startswith("KEY="))
    key = sh(key_line + '\necho "$KEY"', tmp_path, {}).strip()  # against ./data
    time.sleep(RELOAD_S + 0.1)  # a key made by the CLI is valid within a second
    env = {"URL": live.url, "KEY": key, "SYSLOG_PORT": str(live.service.settings.syslog_tcp)}
    outputs = {b: sh(b, tmp_path, env) for b in BLOCKS if b is not SETUP}
    es, loki, clef, syslog = outputs.values()
    assert '"errors":false' in es and '"status":201' in es
    assert loki.strip() == "204"
    assert clef.strip() == '{"MinimumLevelAccepted":null}'
    assert syslog == ""
    (paid,) = live.events(q="order 7 paid")
    assert (paid["stream"], paid["src"], paid["message_type"]) == ("shop", "web-1", "Warning")
    assert live.events(q="cache cleared")[0]["instant"] == 1_764_583_200_000
    assert live.events(q="invoice 12 sent")[0]["request_key"] == "t-12"
    assert live.events(q="ann signed in")[0]["module_name"] == "auth"
    assert wait_for(live, "payment 9 failed", 1)[0]["message_type"] == "Error"
    assert wait_for(live, "zone reloaded", 1)[0]["module_name"] == "dns"


def test_syslog_ng_destination_word_for_word(live: Live, tmp_path: Path) -> None:
    (dest,) = re.findall(r"^destination d_logcycle \{ (.*); \};$", SHIPPERS, flags=re.M)
    assert "port(5514)" in dest
    dest = dest.replace("port(5514)", f"port({live.service.settings.syslog_tcp})")
    for _ in run_syslog_ng(tmp_path, dest, ["from the documented destination"]):
        events = wait_for(live, "from the documented destination", 1)
    assert [e["src"] for e in events] == ["ng-host"]
