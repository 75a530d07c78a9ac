"""The Errors view in a real browser (Debian's Chromium through Playwright) against a real
server: groups with sparklines, resolving one, a group's page with its occurrences and a
link to the request tree."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.web.conftest import Web, sign_in

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def row(page: Any, text: str) -> Any:
    return page.locator("#errors-rows tr", has_text=text)


def test_groups_status_and_group_page(page: Any, web: Web) -> None:
    sign_in(page, ADMIN)
    page.click("#tabs [data-view=errors]")
    expect(row(page, "payment refused for order 7")).to_have_count(1)
    billing = row(page, "payment refused for order 7")
    expect(billing).to_contain_text("billing")
    expect(billing.locator("svg.err-spark rect")).to_have_count(14)
    assert "#errors" in page.url
    billing.locator("button[data-status=resolved]").click()
    expect(row(page, "payment refused for order 7")).to_have_count(0)  # default: open ones
    page.select_option("#errors-status", "resolved")
    page.click("#errors-search")
    expect(row(page, "payment refused for order 7")).to_contain_text("resolved")
    page.select_option("#errors-status", "")
    page.click("#errors-search")
    shop = page.locator("#errors-rows tr", has_text="shop").filter(has_text="payment refused")
    shop.locator("a.group-link").click()
    expect(page.locator("#error-group")).to_be_visible()
    expect(page.locator("#group-title")).to_have_text("payment refused")
    occurrence = page.locator("#group-occurrences li").first
    expect(occurrence).to_contain_text("HTTP 402 from the acquirer")
    occurrence.locator("button", has_text="Open its request").click()
    expect(page.locator("#view-request")).to_be_visible()
    expect(page.locator("#req-title")).to_have_text(web.request_key)
    page.go_back()
    expect(page.locator("#error-group")).to_be_visible()
