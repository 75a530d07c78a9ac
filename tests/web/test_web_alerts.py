"""Alerts on the page, in a real browser (Debian's Chromium through Playwright) against a
real server whose scheduler runs: the link of a notification opens the page showing the
matches (the search box holds the rule's query, the range is the rule's window; the
Errors view filtered for a group rule), and the Alerts view shows each rule's state and
its last failed delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, wait_for
from tests.errors.receiver import Receiver
from tests.web.conftest import Web, sign_in

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def add_rule(web: Web, rule: dict[str, Any]) -> int:
    r = httpx.post(web.url + "/api/v1/alerts", json=rule,
                   headers={"Authorization": ADMIN}, timeout=10)
    assert r.status_code == 200, r.text
    alert_id: int = r.json()["id"]
    return alert_id


def remove_rule(web: Web, alert_id: int) -> None:
    httpx.delete(f"{web.url}/api/v1/alerts/{alert_id}", headers={"Authorization": ADMIN},
                 timeout=10)


def test_the_link_of_a_notification_opens_its_matches(browser: Any, web: Web,
                                                      receiver: Receiver) -> None:
    from tests.web.conftest import new_tab

    query = "module_name:billing refused"
    ids = [add_rule(web, {"name": "billing refusals", "query": query, "every_s": 1,
                          "condition": {"type": "count", "above": 0, "window_s": 3600},
                          "notify": [{"webhook": receiver.url}]}),
           add_rule(web, {"name": "new bugs", "every_s": 1,
                          "condition": {"type": "new_error_group"},
                          "notify": [{"webhook": receiver.url}]})]
    try:
        body = wait_for(lambda: next((b for b in receiver.bodies()
                                      if b["alert"] == "billing refusals"), None), 20)
        link = body["link"]
        assert link.startswith(web.url + "/#search?") and "q=module_name%3Abilling%20refused" \
            in link, link
        with new_tab(browser, web) as page:
            page.goto(link)
            sign_in(page, ADMIN)
            expect(page.locator("#f-query")).to_have_value(query)
            expect(page.locator("#rows tr")).to_have_count(3)  # billing's three "refused"
            assert body["value"] == 3  # what the rule counted
            expect(page.locator("#rows")).to_contain_text("Payment of order 8 was refused")
            expect(page.locator("#f-start")).not_to_have_value("")
        web.post([{"kind": "error", "instant": int(time.time() * 1000),
                   "module_name": "alerts-test", "message": "a bug never seen before"}])
        body = wait_for(lambda: next((b for b in receiver.bodies()
                                      if b["alert"] == "new bugs"), None), 20)
        assert body["link"].endswith("/#errors?status=unresolved&order=first_seen")
        with new_tab(browser, web) as page:
            page.goto(body["link"])
            sign_in_anywhere(page)
            expect(page.locator("#view-errors")).to_be_visible()
            expect(page.locator("#errors-status")).to_have_value("unresolved")
            expect(page.locator("#errors-order")).to_have_value("first_seen")
            expect(page.locator("#errors-rows tr").first).to_contain_text(
                "a bug never seen before")
    finally:
        for i in ids:
            remove_rule(web, i)


def sign_in_anywhere(page: Any) -> None:
    """Sign in on a page that opens another view than the search."""
    page.fill("#key", ADMIN)
    page.click("#signin-submit")
    page.wait_for_selector("#tabs:not([hidden])")


def test_alerts_view_shows_state_and_the_last_failed_delivery(page: Any, web: Web,
                                                              receiver: Receiver) -> None:
    receiver.status = 500  # every attempt fails
    alert_id = add_rule(web, {"name": "orders pile up", "query": "module_name:orders",
                              "every_s": 1, "condition": {"type": "count", "above": 10,
                                                          "window_s": 3600},
                              "notify": [{"webhook": receiver.url}]})
    try:
        def failed() -> Any:
            (a,) = [x for x in httpx.get(web.url + "/api/v1/alerts", timeout=10,
                                         headers={"Authorization": ADMIN}).json()["alerts"]
                    if x["id"] == alert_id]
            return a if a["failed_deliveries"] else None

        a = wait_for(failed, 30)  # 4 attempts over 1 + 2 + 4 s
        sign_in(page, ADMIN)
        page.click("#tabs [data-view=alerts]")
        assert "#alerts" in page.url
        row = page.locator("#alerts-rows tr", has_text="orders pile up")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("firing")
        expect(row).to_contain_text("count > 10 in 3600 s")
        expect(row.locator("td.failed")).to_contain_text("HTTP 500")
        expect(row.locator("td.failed")).to_contain_text("4 attempts")
        expect(row.locator("td.failed")).to_contain_text(f"webhook {receiver.url}")
        assert a["failed_deliveries"][-1]["attempts"] == 4
        row.locator("a.alert-link").click()
        expect(page.locator("#f-query")).to_have_value("module_name:orders")
    finally:
        remove_rule(web, alert_id)


def test_a_read_key_has_no_alerts_tab(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    expect(page.locator("#tab-alerts")).to_be_hidden()
