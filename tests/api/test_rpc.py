"""The Log RPC as a user of the original (seed 002) tries it: its documented frames word for
word, its documented answers field by field, then failures one command at a time."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.keys import hash_key, new_key
from logcycle.query import streams
from logcycle.service import Service

LOG_REQUEST = """{
  "v": 1,
  "src": "//api.cesanta.com/device_123",
  "dst": "//api.cesanta.com",
  "cmds": [
    {
      "cmd": "/v1/Log.Log",
      "id": 123,
      "args": {
        "msg": "hello world!"
      }
    }
  ]
}
"""
LOG_RESPONSE = {"v": 1, "src": "//api.cesanta.com", "dst": "//api.cesanta.com/device_123",
                "resp": [{"id": 123, "status": 0}]}
LIST_REQUEST = """{
  "v": 1,
  "src": "//api.cesanta.com/user_123",
  "dst": "//api.cesanta.com",
  "cmds": [
    {
      "cmd": "/v1/Log.List",
      "id": 123,
      "args": {
        "src": "//api.cesanta.com/device_123",
        "limit": 10,
        "stream": "console"
      }
    }
  ]
}
"""
DEVICE = "//api.cesanta.com/device_123"


def call(client: TestClient, src: str | None, *cmds: dict[str, Any],
         key: str | None = None) -> list[dict[str, Any]]:
    frame: dict[str, Any] = {"v": 1, "dst": "//api.cesanta.com", "cmds": list(cmds)}
    if src is not None:
        frame["src"] = src
    headers = {"Authorization": key} if key else {}
    r = client.post("/rpc", json=frame, headers=headers)
    assert r.status_code == 200, r.text
    resp: list[dict[str, Any]] = r.json()["resp"]
    return resp


def log(msg: Any, i: int = 1, **args: Any) -> dict[str, Any]:
    return {"cmd": "/v1/Log.Log", "id": i, "args": {"msg": msg, **args}}


def lst(i: int = 1, **args: Any) -> dict[str, Any]:
    return {"cmd": "/v1/Log.List", "id": i, "args": args}


def make_key(service: Service, scope: str, src_prefix: str | None = None) -> str:
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), scope, None, src_prefix, 0)
    service.auth.reload()
    return key


# -- the seed's frames, word for word -------------------------------------------------------
def test_the_documented_log_frame(client: TestClient, clock: ManualClock) -> None:
    r = client.post("/rpc", content=LOG_REQUEST)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == LOG_RESPONSE
    [entry] = call(client, "x", lst(src=DEVICE))[0]["resp"]
    assert entry == {"stream": "console", "msg": "hello world!",
                     "timestamp": clock.now_ms(), "id": entry["id"]}  # server time


def test_the_documented_list_frame(client: TestClient) -> None:
    assert call(client, DEVICE, log("hello world!", timestamp=1453395062123)) == \
        [{"id": 1, "status": 0}]
    r = client.post("/rpc", content=LIST_REQUEST)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["v", "src", "dst", "resp"]
    assert (body["v"], body["src"], body["dst"]) == (1, "//api.cesanta.com",
                                                     "//api.cesanta.com/user_123")
    [resp] = body["resp"]
    assert (resp["id"], resp["status"]) == (123, 0)
    [entry] = resp["resp"]
    assert list(entry) == ["stream", "msg", "timestamp", "id"]
    assert entry["stream"] == "console"
    assert entry["msg"] == "hello world!"
    assert entry["timestamp"] == 1453395062123
    assert isinstance(entry["id"], str) and entry["id"].isdigit()


# -- Log.Log and Log.List ------------------------------------------------------------------------
def test_msg_is_kept_as_json(client: TestClient) -> None:
    msgs: list[Any] = [{"temp": 21.5, "ok": True, "tags": ["a"]}, [1, "two", None], "text",
                       "", {"nested": {"deep": [{}]}}]
    assert [r["status"] for r in call(client, DEVICE, *(log(m, i) for i, m in
                                                          enumerate(msgs)))] == [0] * 5
    entries = call(client, "x", lst(src=DEVICE))[0]["resp"]
    assert [e["msg"] for e in entries] == msgs[::-1]
    found = client.get("/api/v1/events", params={"src": DEVICE, "q": "temp"}).json()["events"]
    assert found[0]["message"] == '{"temp":21.5,"ok":true,"tags":["a"]}'
    assert found[0]["msg"] == msgs[0]


def test_pages_with_after_across_streams(client: TestClient, clock: ManualClock) -> None:
    cmds = [log(f"m{i}", i, stream=("console", "metrics", "debug")[i % 3]) for i in range(20)]
    call(client, DEVICE, *cmds)
    call(client, "//other", log("not mine"))
    seen: list[str] = []
    after = None
    while True:
        args: dict[str, Any] = {"src": DEVICE, "limit": 6}
        if after is not None:
            args["after"] = after
        page = call(client, "x", lst(**args))[0]["resp"]
        seen.extend(e["msg"] for e in page)
        if len(page) < 6:
            break
        after = page[-1]["id"]
    assert seen == [f"m{i}" for i in range(19, -1, -1)]
    metrics = call(client, "x", lst(src=DEVICE, stream="metrics", limit=3))[0]["resp"]
    assert [e["msg"] for e in metrics] == ["m19", "m16", "m13"]
    assert call(client, "x", lst(src=DEVICE, limit=0))[0]["resp"] == []
    assert call(client, "x", lst(src="//nobody"))[0]["resp"] == []


def test_a_source_with_many_streams(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_STREAMS", 3)
    call(client, DEVICE, *(log(f"m{i}", i, stream=f"s{i}") for i in range(8)))
    page = call(client, "x", lst(src=DEVICE, limit=5))[0]["resp"]
    assert [e["msg"] for e in page] == ["m7", "m6", "m5", "m4", "m3"]


def test_entries_ingested_natively_are_listed(client: TestClient, clock: ManualClock) -> None:
    client.post("/api/v1/events", json=[{"kind": "general", "instant": 5, "message": "plain",
                                         "src": DEVICE}])
    assert call(client, "x", lst(src=DEVICE))[0]["resp"] == [
        {"msg": "plain", "timestamp": 5, "id": "1"}]


def test_a_list_after_a_log_in_one_frame_sees_it(client: TestClient) -> None:
    resp = call(client, DEVICE, log("first", 1), lst(2, src=DEVICE), log("second", 3))
    assert [e["msg"] for e in resp[1]["resp"]] == ["first"]
    assert [r["status"] for r in resp] == [0, 0, 0]


# -- failures, one command at a time -----------------------------------------------------------
def test_each_command_fails_alone(client: TestClient) -> None:
    resp = call(client, DEVICE,
                log("ok", 1),
                {"cmd": "/v1/Log.Nope", "id": 2},
                {"cmd": "/v1/Log.Log", "id": 3, "args": {}},
                log(42, 4),
                log("x", 5, timestamp="yesterday"),
                log("x", 6, stream=7),
                log("x", 7, timestamp=-1),
                log("x", 8, timestamp=10**15),
                lst(9),
                lst(10, src=DEVICE, limit="ten"),
                lst(11, src=DEVICE, after="msg123"),
                lst(12, src=DEVICE, limit=100_000),
                {"cmd": "/v1/Log.List", "id": 13, "args": [1]},
                "not a command",
                {"id": 15},
                log("x" * 70_000, 16),
                log("also ok", 17))
    assert [(r["id"], r["status"]) for r in resp] == [
        (1, 0), (2, 404), (3, 400), (4, 400), (5, 400), (6, 400), (7, 400), (8, 400),
        (9, 400), (10, 400), (11, 400), (12, 400), (13, 400), (None, 400), (15, 400),
        (16, 400), (17, 0)]
    for r in resp:
        assert ("status_msg" in r) == (r["status"] != 0)
        assert "resp" not in r or r["status"] == 0
    assert "missing required arg: msg" in resp[2]["status_msg"]
    assert "missing required arg: src" in resp[8]["status_msg"]
    entries = call(client, "x", lst(src=DEVICE))[0]["resp"]
    assert [e["msg"] for e in entries] == ["also ok", "ok"]


BAD_FRAMES = [b"{", b"[]", b'{"v": 2, "cmds": []}', b'{"v": 1}', b'{"v": 1, "cmds": {}}',
              b'{"v": 1, "src": 5, "cmds": []}', b'{"v": true, "cmds": []}']


def test_a_frame_that_cannot_be_read_is_a_400(client: TestClient) -> None:
    for body in BAD_FRAMES:
        r = client.post("/rpc", content=body)
        assert r.status_code == 400
        assert set(r.json()["error"]) >= {"code", "message"}


def test_log_needs_a_frame_src(client: TestClient) -> None:
    [r] = call(client, None, log("x"))
    assert r["status"] == 400 and "src" in r["status_msg"]
    r2 = client.post("/rpc", json={"v": 1, "cmds": []})
    assert r2.json() == {"v": 1, "resp": []}


def test_keys_scopes_and_source_prefixes(client: TestClient, service: Service) -> None:
    r = client.post("/rpc", content=LOG_REQUEST, headers={"Authorization": ""})
    assert (r.status_code, r.content) == (401, b"")
    ingest, read = make_key(service, "ingest"), make_key(service, "read")
    device = make_key(service, "admin", src_prefix="//api.cesanta.com/device_")
    resp = call(client, DEVICE, log("a", 1), lst(2, src=DEVICE), key=ingest)
    assert [r["status"] for r in resp] == [0, 403]
    resp = call(client, DEVICE, log("b", 1), lst(2, src=DEVICE), key=read)
    assert [r["status"] for r in resp] == [403, 0]
    resp = call(client, DEVICE, log("c", 1), lst(2, src=DEVICE), lst(3, src="//api.x/user"),
                key=device)
    assert [r["status"] for r in resp] == [0, 0, 403]
    resp = call(client, "//api.cesanta.com/user_1", log("d", 1), key=device)
    assert resp[0]["status"] == 403
    listed = call(client, "x", lst(src=DEVICE))[0]["resp"]
    assert [e["msg"] for e in listed] == ["c", "a"]
