"""Alerts end to end on both stores, with the clock injected (no sleeping for windows):
rules over /api/v1/alerts, firing and resolving once each, real webhook deliveries to a
local HTTP receiver (body, HMAC signature, retries after 500), e-mail to a local SMTP
server, state across a restart, failed deliveries visible, one run per rule when two
schedulers share a store."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from logcycle.api.app import create_app
from logcycle.clock import ManualClock
from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, T0, free_port
from tests.errors.folding import fold
from tests.errors.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def make(settings: Settings, clock: ManualClock) -> Service:
    svc = Service(settings, clock=clock, bootstrap_key=ADMIN)
    svc.run_alerts = False  # the test ticks
    svc.alerts.notifier.backoff_s = 0.01
    return svc


@pytest.fixture
def svc(settings: Settings, clock: ManualClock) -> Iterator[Service]:
    s = make(settings, clock)
    yield s
    s.close()


@pytest.fixture
def api(svc: Service) -> Iterator[TestClient]:
    with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        svc.alerts.notifier.start()
        yield c


def tick(svc: Service) -> None:
    svc.alerts.tick()
    assert svc.alerts.notifier.wait_idle(10)


def errors(api: TestClient, n: int, module: str = "shop") -> None:
    r = api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": module,
                                          "message": f"boom {i}"} for i in range(n)])
    assert r.status_code == 200, r.text


def test_count_rule_fires_once_and_resolves_once(api: TestClient, svc: Service,
                                                 clock: ManualClock, receiver: Receiver) -> None:
    rule = {"name": "shop errors", "query": "kind:error module_name:shop",
            "condition": {"type": "count", "above": 2, "window_s": 60}, "every_s": 30,
            "notify": [{"webhook": receiver.url, "secret": "s3cret"}]}
    r = api.post("/api/v1/alerts", json=rule)
    assert r.status_code == 200, r.text
    alert = r.json()
    assert alert["notify"][0]["secret"] == "***" and alert["state"] == "ok"
    errors(api, 3)
    errors(api, 5, module="billing")  # not matched by the query
    tick(svc)
    (headers, raw), = receiver.got
    body = orjson.loads(raw)
    assert body["alert"] == "shop errors" and body["state"] == "firing" and body["value"] == 3
    assert body["threshold"] == 2 and body["query"] == "kind:error module_name:shop"
    assert body["started_at"] == T0 and body["link"].startswith("http://127.0.0.1:5380/#")
    want = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["x-logcycle-signature"] == want
    for _ in range(3):  # still firing: no new notification
        clock.advance(30_000)
        errors(api, 3)
        tick(svc)
    assert len(receiver.got) == 1
    clock.advance(120_000)  # the window holds no error any more
    tick(svc)
    assert [b["state"] for b in receiver.bodies()] == ["firing", "resolved"]
    assert receiver.bodies()[1]["started_at"] == T0
    tick(svc)  # not due yet: nothing runs
    assert len(receiver.got) == 2
    (shown,) = api.get("/api/v1/alerts").json()["alerts"]
    assert shown["state"] == "ok" and [d["ok"] for d in shown["deliveries"]] == [True, True]


def test_retries_after_500_and_failures_are_visible(api: TestClient, svc: Service,
                                                    receiver: Receiver) -> None:
    receiver.answers = [500, 500]
    api.post("/api/v1/alerts", json={"name": "slack", "condition": {
        "type": "count", "above": 0, "window_s": 60}, "notify": [
        {"webhook": receiver.url, "format": "slack"},
        {"webhook": "http://127.0.0.1:9/closed", "format": "teams"}]})
    errors(api, 1)
    tick(svc)
    assert len(receiver.got) == 3  # two 500s, then delivered
    assert "is firing" in receiver.bodies()[2]["text"]
    (shown,) = api.get("/api/v1/alerts").json()["alerts"]
    by_target = {d["target"]: d for d in shown["deliveries"]}
    assert by_target[f"webhook {receiver.url}"]["attempts"] == 3
    failed = shown["failed_deliveries"]
    assert [d["target"] for d in failed] == ["webhook http://127.0.0.1:9/closed"]
    assert failed[0]["attempts"] == 4 and failed[0]["error"]


def test_new_and_regressed_groups(api: TestClient, svc: Service, clock: ManualClock,
                                  receiver: Receiver) -> None:
    for kind in ("new_error_group", "regressed_error_group"):
        api.post("/api/v1/alerts", json={"name": kind, "condition": {"type": kind},
                                         "every_s": 10, "notify": [{"webhook": receiver.url}]})
    errors(api, 1)
    fold(svc)
    tick(svc)  # the first run only sets the mark: groups before the rule do not count
    assert receiver.got == []
    clock.advance(10_000)
    api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "shop",
                                      "message": "a new bug"}])
    fold(svc)
    tick(svc)
    assert [(b["alert"], b["state"]) for b in receiver.bodies()] == [("new_error_group", "firing")]
    fp = receiver.bodies()[0]["groups"][0]
    assert api.patch(f"/api/v1/errors/{fp}", json={"status": "resolved"}).status_code == 200
    clock.advance(10_000)
    api.post("/api/v1/events", json=[{"kind": "error", "instant": T0, "module_name": "shop",
                                      "message": "a new bug"}])
    fold(svc)
    tick(svc)
    assert [(b["alert"], b["state"]) for b in receiver.bodies()[1:]] == \
        [("new_error_group", "resolved"), ("regressed_error_group", "firing")], \
        (receiver.bodies(), api.get("/api/v1/alerts").json(), api.get("/api/v1/errors").json())
    assert receiver.bodies()[2]["groups"] == [fp]


def test_stat_rule_p95(api: TestClient, svc: Service, receiver: Receiver) -> None:
    api.post("/api/v1/alerts", json={"name": "slow checkout", "query": "kind:screen",
                                     "condition": {"type": "stat", "metric": "p95(duration_ms)",
                                                   "above": 900, "window_s": 300},
                                     "notify": [{"webhook": receiver.url}]})
    api.post("/api/v1/events", json=[{"kind": "screen", "instant": T0, "screen": "Checkout",
                                      "request_key": f"r{i}", "duration_ms": 10 * i}
                                     for i in range(1, 101)])
    tick(svc)
    assert [(b["state"], b["value"]) for b in receiver.bodies()] == [("firing", 950.0)]


def test_state_survives_a_restart(settings: Settings, clock: ManualClock,
                                  receiver: Receiver) -> None:
    first = make(settings, clock)
    with TestClient(create_app(first), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        first.alerts.notifier.start()
        api.post("/api/v1/alerts", json={"name": "n", "condition": {
            "type": "count", "above": 0, "window_s": 600}, "notify": [{"webhook": receiver.url}]})
        errors(api, 1)
        tick(first)
    first.close()
    clock.advance(30_000)
    second = make(settings, clock)
    with TestClient(create_app(second), headers={"Authorization": f"Bearer {ADMIN}"}):
        second.alerts.notifier.start()
        tick(second)  # still firing: the restart sends nothing again
        assert [b["state"] for b in receiver.bodies()] == ["firing"]
    second.close()


def test_two_schedulers_on_one_store_run_each_rule_once(settings: Settings, clock: ManualClock,
                                                        receiver: Receiver) -> None:
    a, b = make(settings, clock), make(settings, clock)
    with TestClient(create_app(a), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
        b.open()
        for s in (a, b):
            s.alerts.notifier.start()
        for i in range(10):
            api.post("/api/v1/alerts", json={"name": f"n{i}", "condition": {
                "type": "count", "above": 0, "window_s": 600},
                "notify": [{"webhook": receiver.url}]})
        errors(api, 1)
        start = threading.Barrier(2)

        def run(s: Service) -> None:
            start.wait()
            s.alerts.tick()

        threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert a.alerts.runs + b.alerts.runs == 10
        for s in (a, b):
            assert s.alerts.notifier.wait_idle(10)
        assert sorted(x["alert"] for x in receiver.bodies()) == [f"n{i}" for i in range(10)]
    b.close()
    a.close()


def test_bad_rules_are_400_and_names_unique(api: TestClient) -> None:
    ok = {"name": "x", "condition": {"type": "new_error_group"}}
    assert api.post("/api/v1/alerts", json=ok).status_code == 200
    assert api.post("/api/v1/alerts", json=ok).status_code == 409
    for bad in ({"name": "y"}, {"name": "y", "condition": {"type": "count"}},
                {"name": "y", "condition": {"type": "stat", "metric": "p95(screen)", "above": 1}},
                {"name": "y", "condition": {"type": "new_error_group"}, "query": "nope:1"},
                {"name": "y", "condition": {"type": "new_error_group"},
                 "notify": [{"webhook": "file:///etc/passwd"}]},
                {"name": "y", "condition": {"type": "new_error_group"}, "notify": [{"x": 1}]}):
        r = api.post("/api/v1/alerts", json=bad)
        assert r.status_code == 400, (bad, r.text)
    (a,) = api.get("/api/v1/alerts").json()["alerts"]
    r = api.put(f"/api/v1/alerts/{a['id']}", json={**ok, "name": "z", "every_s": 60})
    assert r.status_code == 200 and r.json()["every_s"] == 60
    assert api.get(f"/api/v1/alerts/{a['id']}").json()["name"] == "z"
    assert api.delete(f"/api/v1/alerts/{a['id']}").status_code == 200
    assert api.delete(f"/api/v1/alerts/{a['id']}").status_code == 404
    assert api.get("/api/v1/alerts").json()["alerts"] == []


def test_mail_over_smtp(tmp_path: Path, store_url: str, clock: ManualClock) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append(envelope.content)
            return "250 OK"

    port = free_port()
    smtp = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings = Settings(data=tmp_path / "data", store=store_url,
                            smtp_url=f"smtp://127.0.0.1:{port}")
        svc = make(settings, clock)
        with TestClient(create_app(svc), headers={"Authorization": f"Bearer {ADMIN}"}) as api:
            svc.alerts.notifier.start()
            api.post("/api/v1/alerts", json={"name": "mail me", "condition": {
                "type": "count", "above": 0, "window_s": 600},
                "notify": [{"email": "oncall@example.com"}]})
            errors(api, 1)
            tick(svc)
        svc.close()
    finally:
        smtp.stop()
    (mail,) = got
    assert b"Subject: [logcycle] mail me firing" in mail and b"oncall@example.com" in mail


def test_stat_rules_agree_with_the_stats_api(api: TestClient, svc: Service,
                                             clock: ManualClock) -> None:
    """Each alert value is what GET /api/v1/stats answers for the same query and window:
    both go through query/stats.py."""
    durations = [3, 990, 17, 250, 250, 41, 1200, 8, 600, 75, 75, 310, 5000, 12]
    api.post("/api/v1/events", json=[
        {"kind": "screen", "instant": T0, "screen": "Cart" if i % 3 else "Checkout",
         "request_key": f"r{i}", "duration_ms": d} for i, d in enumerate(durations)])
    api.post("/api/v1/events", json=[{"kind": "general", "instant": T0, "message": "x"}])
    metrics = ["p50(duration_ms)", "p75(duration_ms)", "p95(duration_ms)", "avg(duration_ms)",
               "max(duration_ms)", "min(duration_ms)", "count", "count()", "error_rate"]
    for i, metric in enumerate(metrics):
        r = api.post("/api/v1/alerts", json={
            "name": f"m{i}", "query": "kind:screen screen:Cart",
            "condition": {"type": "stat", "metric": metric, "above": 1e9, "window_s": 300}})
        assert r.status_code == 200, r.text
    clock.advance(1000)
    now = clock.now_ms()
    tick(svc)
    shown = {a["name"]: a["value"] for a in api.get("/api/v1/alerts").json()["alerts"]}
    for i, metric in enumerate(metrics):
        name = "count" if metric == "count()" else metric
        r = api.get("/api/v1/stats", params={"query": "kind:screen screen:Cart",
                                             "start": now - 300_000 + 1, "end": now,
                                             "metrics": name})
        assert r.status_code == 200, r.text
        (row,) = r.json()["rows"]
        assert shown[f"m{i}"] == pytest.approx(row[name]), metric
    assert shown["m1"] == 310  # p75 of Cart's 9 durations (nearest rank), not a guess
    r = api.post("/api/v1/alerts", json={"name": "bad", "condition": {
        "type": "stat", "metric": "p42(duration_ms)", "above": 1}})
    assert r.status_code == 400 and "condition.metric" in r.json()["error"]["message"], r.text
