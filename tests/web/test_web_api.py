"""The JSON routes the web page adds (histogram, whoami), the wildcard `message` filter,
and the page's own responses (security headers, no inline script, text-only rendering)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from logcycle.clock import ManualClock
from logcycle.cycles import WEEK_MS, week_of, week_start_ms
from logcycle.keys import hash_key, new_key
from logcycle.query.histogram import DAY, HOUR, MINUTE, plan
from logcycle.service import Service
from logcycle.web.routes import STATIC
from tests.conftest import T0, error_event

SEARCH_CASES: list[dict[str, str]] = [
    {"message": "pay*refused"}, {"message": "refused"}, {"message": "*card*"},
    {"kind": "error"}, {"kind": "general", "type": "Error"}, {"module": "billing"},
    {"src": "dev/1", "stream": "console"}, {"message": "PAY*", "kind": "error,general"},
]


def ingest(client: TestClient, events: list[dict[str, Any]]) -> list[int]:
    r = client.post("/api/v1/events", json=events)
    assert r.status_code == 200, r.text
    ids: list[int] = r.json()["ids"]
    return ids


def all_events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        body = client.get("/api/v1/events", params={**params, **({"after": after} if after
                                                                  else {})}).json()
        out.extend(body["events"])
        after = body["next"]
        if after is None:
            return out


def make_key(service: Service, scope: str) -> str:
    key = new_key()
    service.store.add_key(hash_key(service.secret, key), scope, None, None, 0)
    service.auth.reload()
    return key


def mixed_events() -> list[dict[str, Any]]:
    return [
        error_event(1, message="payment refused", module_name="billing"),
        error_event(2, message="Payment was refused by the bank"),
        error_event(3, message="refused payment"),
        {"kind": "general", "instant": T0, "message": "card declined", "message_type": "Error",
         "module_name": "billing", "src": "dev/1", "stream": "console"},
        {"kind": "general", "instant": T0, "message": "pay later refused", "src": "dev/1",
         "stream": "kernel", "message_type": "Information"},
        {"kind": "screen", "instant": T0, "duration_ms": 5, "screen": "Cart",
         "request_key": "r1", "module_name": "billing"},
    ]


# -- histogram -----------------------------------------------------------------------------
def test_plan_picks_nice_aligned_buckets() -> None:
    b = plan(T0 + 7, T0 + HOUR - 1, 60)
    assert (b.width, b.origin % MINUTE, b.count) == (MINUTE, 0, 60)
    assert b.edges(0) == (T0 + 7, T0 + MINUTE - 1)
    assert plan(0, 10 * DAY, 4).width == 3 * DAY  # past a day: whole days
    assert plan(5, 5, 60).width == 1 and plan(5, 5, 60).count == 1
    assert (plan(0, DAY, 24).width, plan(0, DAY, 24).count) == (HOUR, 24)
    assert plan(0, DAY, 24).edges(23) == (23 * HOUR, DAY)  # the last holds `end` too
    with pytest.raises(ValueError, match="before"):
        plan(2, 1, 10)


def test_histogram_counts_per_bucket(client: TestClient, clock: ManualClock) -> None:
    for minute, n in [(0, 3), (2, 1), (9, 4)]:
        clock.set(T0 + minute * MINUTE + 30_000)
        ingest(client, [error_event(i) for i in range(n)])
    clock.set(T0 + 20 * MINUTE)
    ingest(client, [error_event(99)])  # after the range
    body = client.get("/api/v1/histogram", params={
        "start": T0, "end": T0 + 10 * MINUTE - 1, "buckets": 10}).json()
    assert body["bucket_ms"] == MINUTE and body["start"] == T0
    assert [b["count"] for b in body["buckets"]] == [3, 0, 1, 0, 0, 0, 0, 0, 0, 4]
    assert [b["start"] for b in body["buckets"]][:2] == [T0, T0 + MINUTE]
    assert body["total"] == 8 and body["kinds"] == {"error": 8}


def test_a_day_in_24_buckets_is_24_hours(client: TestClient, clock: ManualClock) -> None:
    """docs/web.md: buckets=24 over a day (both ends included) are 24 one-hour buckets;
    the range's last instant counts in the last one, and each bucket counts its errors."""
    day0 = T0 - T0 % DAY
    for at, events in [(day0, [error_event(1)]),
                       (day0 + 5 * HOUR, [error_event(2), {"kind": "general", "instant": T0,
                                                           "message": "fine"}]),
                       (day0 + DAY, [error_event(3)])]:
        clock.set(at)
        ingest(client, events)
    body = client.get("/api/v1/histogram",
                      params={"start": day0, "end": day0 + DAY, "buckets": 24}).json()
    assert body["bucket_ms"] == HOUR and len(body["buckets"]) == 24
    counts = [(b["count"], b["errors"]) for b in body["buckets"]]
    assert counts[0] == (1, 1) and counts[5] == (2, 1) and counts[23] == (1, 1)
    assert sum(c for c, _ in counts) == body["total"] == 4 and body["errors"] == 3
    unaligned = client.get("/api/v1/histogram", params={
        "start": day0 + 30 * MINUTE, "end": day0 + DAY + 30 * MINUTE, "buckets": 24}).json()
    assert unaligned["bucket_ms"] == HOUR and len(unaligned["buckets"]) == 25  # clipped ends


@pytest.mark.parametrize("filters", SEARCH_CASES)
def test_histogram_counts_what_the_list_shows(client: TestClient, filters: dict[str, str]) -> None:
    ingest(client, mixed_events())
    rng = {"start": T0 - HOUR, "end": T0 + HOUR}
    listed = all_events(client, **filters, **rng)
    body = client.get("/api/v1/histogram", params={**filters, **rng, "buckets": 7}).json()
    assert body["total"] == len(listed) > 0
    kinds: dict[str, int] = {}
    for e in listed:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    assert body["kinds"] == kinds


def test_histogram_spans_weeks_and_defaults_to_the_last_day(client: TestClient,
                                                            clock: ManualClock) -> None:
    ingest(client, [error_event(1)])
    clock.advance(WEEK_MS)
    ingest(client, [error_event(2), error_event(3)])
    both = client.get("/api/v1/histogram", params={"start": T0 - 1, "end": T0 + WEEK_MS}).json()
    assert both["total"] == 3
    last_day = client.get("/api/v1/histogram").json()
    assert last_day["total"] == 2 and last_day["end"] == T0 + WEEK_MS
    assert last_day["end"] - last_day["start"] == DAY


@pytest.mark.parametrize(("params", "word"), [
    ({"buckets": "0"}, "buckets"), ({"buckets": "5000"}, "buckets"), ({"bucket": "5"}, "bucket"),
    ({"start": "20", "end": "10"}, "start"), ({"start": str(T0 + DAY)}, "start"),
    ({"kind": "nope"}, "nope"), ({"q": "a", "message": "b"}, "message"),
    ({"end": "99999999999999999"}, "end"), ({"start": "0001-01-01T00:00:00+14:00"}, "start"),
])
def test_histogram_names_bad_parameters(client: TestClient, params: dict[str, str],
                                        word: str) -> None:
    r = client.get("/api/v1/histogram", params=params)
    assert r.status_code == 400
    assert word in r.json()["error"]["message"]


def test_new_routes_need_their_scope(client: TestClient, service: Service) -> None:
    ingest_key, read_key = make_key(service, "ingest"), make_key(service, "read")
    for path in ("/api/v1/histogram", "/api/v1/tail"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 401
        assert client.get(path, headers={"Authorization": ingest_key}).status_code == 403
    assert client.get("/api/v1/histogram", headers={"Authorization": read_key}).status_code == 200


# -- the wildcard message filter of GET /api/v1/events -------------------------------------
def test_message_filter_takes_star_wildcards(client: TestClient) -> None:
    ingest(client, mixed_events())

    def messages(**p: str) -> list[str]:
        return sorted(e["message"] for e in all_events(client, **p))
    assert messages(message="pay*refused") == ["pay later refused", "payment refused"]
    assert messages(message="*refused*bank") == ["Payment was refused by the bank"]
    assert messages(message="refused") == ["Payment was refused by the bank", "pay later refused",
                                           "payment refused", "refused payment"]
    assert messages(q="pay*") == []  # q stays a plain substring: * is a character
    assert messages(message="50%_*") == []


# -- whoami --------------------------------------------------------------------------------
def test_whoami_tells_scope_and_the_week(client: TestClient, service: Service) -> None:
    body = client.get("/api/v1/whoami").json()
    assert body["scope"] == "admin" and body["read"] and body["admin"]
    assert body["key"] == "env-key" and body["src_prefix"] is None
    assert body["now"] == T0 and body["week"] == week_of(T0, service.settings.tz)
    assert body["week_start"] == week_start_ms(body["week"], service.settings.tz)
    assert body["previous_week_start"] == body["week_start"] - WEEK_MS
    assert body["week_start"] <= T0 < body["next_rotation"] == body["week_start"] + WEEK_MS
    read = client.get("/api/v1/whoami", headers={"Authorization": make_key(service, "read")})
    assert read.json()["admin"] is False and read.json()["read"] is True
    ingest_only = client.get("/api/v1/whoami",
                             headers={"Authorization": make_key(service, "ingest")})
    assert ingest_only.json()["read"] is False
    assert client.get("/api/v1/whoami", headers={"Authorization": "nope"}).status_code == 401


# -- the page itself -----------------------------------------------------------------------
def test_page_and_assets_carry_a_strict_policy(client: TestClient) -> None:
    for path, ctype in [("/", "text/html"), ("/static/app.js", "text/javascript"),
                        ("/static/app.css", "text/css"), ("/static/favicon.svg", "image/svg+xml")]:
        r = client.get(path, headers={"Authorization": ""})
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(ctype)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    etag = client.get("/static/app.js").headers["etag"]
    assert client.get("/static/app.js", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/..%2Fpyproject.toml").status_code == 404


def test_page_has_no_inline_script_or_style() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html, re.I)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize("path", sorted(p.name for p in STATIC.glob("*.js")))
def test_scripts_write_text_never_markup(path: str) -> None:
    source = (STATIC / path).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute('style'"):
        assert sink not in source, f"{path} uses {sink}"
    if path != "prefs.js":  # display preferences only, by name: never the key
        assert "localStorage" not in source, f"{path} uses localStorage"


def test_only_display_preferences_outlive_the_tab() -> None:
    source = (STATIC / "prefs.js").read_text()
    names = re.search(r"const NAMES = new Set\(\[(.*?)\]\)", source)
    assert names is not None
    assert sorted(re.findall(r"'(\w+)'", names.group(1))) == ["columns", "facets", "zone"]
    code = "\n".join(line for line in source.splitlines() if not line.startswith("//"))
    assert "sessionStorage" not in code and "getKey" not in code


def test_assets_ship_in_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject
    assert {"index.html", "app.js", "app.css"} <= {p.name for p in STATIC.iterdir()}
