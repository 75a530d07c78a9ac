"""Two real server processes on one PostgreSQL store, each running its alert scheduler:
a rule fires once and resolves once, whichever process evaluates it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import pg
from tests.conftest import ADMIN, wait_for
from tests.errors.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_each_run_once_across_two_processes(tmp_path: Path, receiver: Receiver,
                                            server_factory: Any) -> None:
    with pg.fresh_schema() as url:
        servers = [server_factory("--store", url, data=tmp_path / f"data{i}").start()
                   for i in range(2)]
        try:
            with httpx.Client(headers={"Authorization": ADMIN}, timeout=10) as c:
                r = c.post(servers[0].url + "/api/v1/alerts", json={
                    "name": "any error", "query": "kind:error", "every_s": 1,
                    "condition": {"type": "count", "above": 0, "window_s": 3},
                    "notify": [{"webhook": receiver.url}]})
                assert r.status_code == 200, r.text
                r = c.post(servers[1].url + "/api/v1/events", json=[
                    {"kind": "error", "instant": 0, "module_name": "m", "message": "x"}])
                assert r.status_code == 200, r.text
                wait_for(lambda: len(receiver.got) >= 2, 20)  # firing, then resolved
                time.sleep(3)  # a few more runs, by either process: nothing more to say
                assert [b["state"] for b in receiver.bodies()] == ["firing", "resolved"]
                for s in servers:
                    (a,) = c.get(s.url + "/api/v1/alerts").json()["alerts"]
                    assert a["state"] == "ok" and a["last_run"] is not None
        finally:
            for s in servers:
                s.stop()
