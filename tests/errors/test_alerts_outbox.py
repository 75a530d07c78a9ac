"""Alert deliveries at least once and independent of each other: a server killed -9
between storing a rule's new state and sending sends it after a restart (the outbox); a
target that hangs or answers 500 does not delay another rule's delivery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from logcycle.alerts.delivery import outbox_rows
from logcycle.alerts.notify import Note
from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from logcycle.store import alertrules, faults
from tests import pg
from tests.conftest import ADMIN, T0, wait_for
from tests.errors.receiver import Receiver


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made = [Receiver() for _ in range(3)]
    yield made
    for r in made:
        if r.hold is not None:
            r.hold.set()
        r.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_args(request: pytest.FixtureRequest) -> Iterator[tuple[str, ...]]:
    if request.param == "sqlite":
        yield ()
    else:
        with pg.fresh_schema() as url:
            yield ("--store", url)


@pytest.mark.slow
def test_a_kill_between_saving_and_sending_loses_nothing(
        tmp_path: Path, receivers: list[Receiver], server_factory: Any,
        store_args: tuple[str, ...]) -> None:
    receiver = receivers[0]
    first = server_factory(*store_args, env={faults.KILL_ENV: "alert-saved"}).start()
    with httpx.Client(headers={"Authorization": ADMIN}, timeout=10) as c:
        r = c.post(first.url + "/api/v1/events", json=[
            {"kind": "error", "instant": 0, "module_name": "m", "message": "x"}])
        assert r.status_code == 200, r.text
        r = c.post(first.url + "/api/v1/alerts", json={
            "name": "any error", "query": "kind:error", "every_s": 1,
            "condition": {"type": "count", "above": 0, "window_s": 600},
            "notify": [{"webhook": receiver.url, "secret": "k"}]})
        assert r.status_code == 200, r.text
        assert first.proc.wait(20) == -9  # killed itself right after the commit
        assert receiver.got == []  # nothing was sent
        second = server_factory(*store_args).start()  # same data directory and store
        (a,) = c.get(second.url + "/api/v1/alerts").json()["alerts"]
        assert a["state"] == "firing"  # the state was stored before the kill
        wait_for(lambda: receiver.got, 15)
        time.sleep(2)  # more runs: still firing, nothing new to say
        assert [(b["alert"], b["state"]) for b in receiver.bodies()] == \
            [("any error", "firing")]
        wait_for(lambda: c.get(second.url + "/api/v1/alerts").json()["alerts"][0]
                 ["deliveries"], 10)
        (a,) = c.get(second.url + "/api/v1/alerts").json()["alerts"]
        assert [(d["ok"], d["attempts"]) for d in a["deliveries"]] == [(True, 1)]
        second.stop()


def make(settings: Settings, clock: ManualClock) -> Service:
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    svc.run_alerts = False  # the test ticks
    return svc


def test_a_hanging_or_failing_target_does_not_delay_another(
        settings: Settings, clock: ManualClock, receivers: list[Receiver]) -> None:
    hangs, fails, fine = receivers
    hangs.hold = threading.Event()
    fails.status = 500
    svc = make(settings, clock)
    svc.alerts.notifier.timeout_s = 3.0
    svc.alerts.notifier.backoff_s = 1.5
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        svc.alerts.notifier.start()
        for name, r in (("hangs", hangs), ("fails", fails)):
            assert api.post("/api/v1/alerts", json={
                "name": name, "condition": {"type": "count", "above": 0, "window_s": 600},
                "every_s": 3600, "notify": [{"webhook": r.url}]}).status_code == 200
        api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "m",
                                          "message": "x"}])
        svc.alerts.tick()  # their notifications first: one hangs, one gets 500
        wait_for(lambda: hangs.got and fails.got, 10)
        assert api.post("/api/v1/alerts", json={
            "name": "fine", "condition": {"type": "count", "above": 0, "window_s": 600},
            "notify": [{"webhook": fine.url}]}).status_code == 200
        clock.advance(1000)
        svc.alerts.tick()  # another rule's, later
        wait_for(lambda: fine.got, 10)
        # Delivered while the first target's request still hangs (its timeout is 3 s) and
        # before the failing one's first retry (1.5 s after its 500).
        assert fine.times[0] < hangs.times[0] + 3.0 and len(hangs.got) == 1
        assert fine.times[0] < fails.times[0] + 1.5 and len(fails.got) == 1
        wait_for(lambda: len(fails.got) == 4, 30)  # retried after 1.5, 3, 6 s: given up
        hangs.hold.set()
        assert svc.alerts.notifier.wait_idle(30)
        shown = {a["name"]: a for a in api.get("/api/v1/alerts").json()["alerts"]}
        assert [(d["ok"], d["attempts"]) for d in shown["fine"]["deliveries"]] == [(True, 1)]
        assert [(d["ok"], d["attempts"], d["error"]) for d in
                shown["fails"]["failed_deliveries"]] == [(False, 4, "HTTP 500")]
        (hung,) = shown["hangs"]["deliveries"]
        assert hung["ok"] and hung["attempts"] >= 2  # the first attempt timed out
    svc.close()


def test_firing_and_resolved_keep_their_order_through_retries(
        settings: Settings, clock: ManualClock, receivers: list[Receiver]) -> None:
    receiver = receivers[0]
    receiver.answers = [500, 500]
    svc = make(settings, clock)
    svc.alerts.notifier.backoff_s = 0.2
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        svc.alerts.notifier.start()
        api.post("/api/v1/alerts", json={
            "name": "n", "every_s": 10, "condition": {"type": "count", "above": 0,
                                                     "window_s": 10},
            "notify": [{"webhook": receiver.url}]})
        api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "m",
                                          "message": "x"}])
        svc.alerts.tick()  # firing: its first two sends get 500
        clock.advance(20_000)
        svc.alerts.tick()  # resolved, queued behind the firing one's retries
        assert svc.alerts.notifier.wait_idle(20)
        assert [b["state"] for b in receiver.bodies()] == ["firing"] * 3 + ["resolved"]
    svc.close()


def test_a_lease_of_a_process_that_died_is_taken_when_it_runs_out(
        settings: Settings, clock: ManualClock, receivers: list[Receiver]) -> None:
    """A row leased by another process (which then died) is left alone until its lease
    runs out, then sent by this one."""
    receiver = receivers[0]
    svc = make(settings, clock)
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        api.post("/api/v1/alerts", json={
            "name": "n", "condition": {"type": "count", "above": 0, "window_s": 600},
            "notify": [{"webhook": receiver.url}]})
        api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "m",
                                          "message": "x"}])
        svc.alerts.tick()  # the notifier is not started: the row waits in the outbox
        lease = svc.alerts.notifier.lease_ms()
        assert svc.store.small_write("UPDATE lc_alert_outbox SET lease_until = "
                                     f"{clock.now_ms() + lease}", ()) == 1  # "another process"
        svc.alerts.notifier.start()
        time.sleep(3)  # more than a poll
        assert receiver.got == []
        clock.advance(lease)
        assert svc.alerts.notifier.wait_idle(10)
        assert [b["state"] for b in receiver.bodies()] == ["firing"]
    svc.close()


def test_a_backlog_for_one_target_does_not_hide_another(
        settings: Settings, clock: ManualClock, receivers: list[Receiver]) -> None:
    """Hundreds of notifications waiting for a target that hangs, older than any other:
    another target's notification still goes at once."""
    hangs, fine = receivers[0], receivers[1]
    hangs.hold = threading.Event()
    svc = make(settings, clock)
    svc.alerts.notifier.timeout_s = 5.0
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        api.post("/api/v1/alerts", json={
            "name": "fine", "condition": {"type": "count", "above": 0, "window_s": 600},
            "notify": [{"webhook": fine.url}]})
        d = svc.store.dialect
        backlog = [r for i in range(300) for r in outbox_rows(
            Note(99, "flapping", "firing", 1, 0, None, {}, T0 - 1000 + i, T0 - 1000 + i, ""),
            [{"webhook": hangs.url}])]
        svc.store.small_transaction([(alertrules.outbox_insert_sql(d), r) for r in backlog])
        api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "m",
                                          "message": "x"}])
        svc.alerts.notifier.start()
        wait_for(lambda: hangs.got, 10)  # the backlog's oldest is being sent, and hangs
        svc.alerts.tick()
        wait_for(lambda: fine.got, 10)
        assert fine.times[0] < hangs.times[0] + 5.0  # while the oldest still hangs
        hangs.hold.set()
    svc.close()
