"""The web page in a real browser (Debian's Chromium through Playwright) against a real
server: sign in, search with a wildcard, the histogram, the live tail, the request tree,
the week model, and logged markup shown as text."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.web.conftest import SCROLL_EVENTS, XSS, Web, now_ms, sign_in

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def search(page: Any, message: str = "", **fields: str) -> None:
    page.fill("#f-message", message)
    for name, value in fields.items():
        page.fill(f"#f-{name}", value)
    page.click("#search")


def test_sign_in_keeps_the_key_in_the_tab_only(page: Any, web: Web) -> None:
    page.fill("#key", "not-a-key")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_contain_text("Wrong key")
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#key", web.ingest_key)
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_contain_text("ingest scope")
    sign_in(page, ADMIN)
    assert page.evaluate("sessionStorage.getItem('logcycle.key')") == ADMIN
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
    assert ADMIN not in page.url
    expect(page.locator("#who")).to_have_text("env-key · admin")
    page.reload()  # same tab: still signed in
    page.wait_for_selector("#rows tr")
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_read_key_sees_no_admin_panel(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    expect(page.locator("#who")).to_contain_text("read")
    expect(page.locator("#tab-weeks")).to_be_hidden()


def test_wildcard_search_then_pages_load_on_scroll(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "pay*refused")
    rows = page.locator("#rows tr")
    expect(rows).to_have_count(2)  # "payment refused" (stored error) and "Payment … refused"
    texts = rows.locator(".c-msg").all_inner_texts()
    assert sorted(texts) == ["Payment of order 8 was refused", "payment refused"]
    expect(page.locator("#hist-total")).to_have_text("2 events")
    search(page, "", module="orders")
    expect(rows).to_have_count(100)
    page.locator("#more").scroll_into_view_if_needed()
    expect(rows).to_have_count(SCROLL_EVENTS)
    expect(page.locator("#more")).to_contain_text("that is all")
    ids = [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.id)")]
    assert ids == sorted(ids, reverse=True)  # newest first
    rows.first.click()
    detail = page.locator("#detail .detail-json").inner_text()
    assert '"module_name": "orders"' in detail and '"src": "dev/1"' in detail


def test_histogram_counts_and_a_click_narrows_the_range(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    expect(page.locator("#hist-total")).to_have_text(f"{web.total} events")
    assert page.locator("#quick button.active").inner_text() == "1 hour"
    before = page.input_value("#f-start")
    page.locator("#histogram g.bucket:not(.empty)").last.click()
    expect(page.locator("#quick button.active")).to_have_count(0)
    page.wait_for_function(f"document.getElementById('f-start').value !== '{before}'")
    start = datetime.fromisoformat(page.input_value("#f-start"))
    end = datetime.fromisoformat(page.input_value("#f-end"))
    assert 0 <= (end - start).total_seconds() < 60  # one bar of at most a minute
    expect(page.locator("#hist-total")).not_to_have_text("0 events")
    expect(page.locator("#rows tr").first).to_be_visible()


def test_live_tail_shows_new_events_and_pauses(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "*live tail*")
    expect(page.locator("#more")).to_have_text("No event matches.")
    page.click("#live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    web.post([{"kind": "general", "instant": now_ms(), "message": "a live tail event"}])
    began = time.monotonic()
    row = page.locator("#rows tr.fresh", has_text="a live tail event")
    expect(row).to_be_visible(timeout=5000)
    assert time.monotonic() - began < 3  # within a second or so, on a loaded machine
    web.post([{"kind": "general", "instant": now_ms(), "message": "not shown: filtered out"}])
    page.click("#pause")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "paused")
    web.post([{"kind": "general", "instant": now_ms(), "message": "live tail while paused"}])
    page.wait_for_timeout(1200)
    expect(page.locator("#rows tr")).to_have_count(1)
    page.click("#pause")  # resume: continues after the last id seen
    expect(page.locator("#rows tr", has_text="live tail while paused")).to_be_visible()
    expect(page.locator("#rows tr")).to_have_count(2)
    page.click("#live")
    expect(page.locator("#pause")).to_be_hidden()


def test_request_tree_from_an_error(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    page.select_option("#f-kind", "error")
    search(page, "payment refused")
    exact = page.locator(".c-msg", has_text=re.compile(r"^payment refused$"))
    page.locator("#rows tr", has=exact).click()
    page.click("#detail-request")
    expect(page.locator("#view-request")).to_be_visible()
    assert page.url.endswith(f"#request={web.request_key}")
    top = page.locator("#req-tree > li.node.top")
    expect(top).to_have_count(1)
    expect(top.locator(":scope > .node-row .what")).to_have_text("Checkout · 320 ms")
    drill = top.locator(":scope > ol.children > li")
    expect(drill).to_have_count(3)  # the error is nested under the call that failed
    offsets = drill.locator(":scope > .node-row .offset").all_inner_texts()
    assert offsets == ["+10 ms", "+40 ms", "+300 ms"]
    failed = drill.nth(1)
    assert "err" in (failed.get_attribute("class") or "")
    expect(failed.locator(".error-box")).to_contain_text("error: payment refused")
    expect(failed.locator(".error-detail")).to_contain_text("HTTP 402 from the acquirer")
    failed.locator(":scope > .node-row").click()
    expect(page.locator("#req-detail .detail-json")).to_contain_text(
        '"endpoint": "/api/payments/charge"')
    page.go_back()
    expect(page.locator("#view-search")).to_be_visible()


def test_logged_markup_and_escapes_render_as_text(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "*onerror*")
    cell = page.locator("#rows tr .c-msg")
    expect(cell).to_have_count(1)
    assert cell.inner_text() == XSS.replace("\x1b", "\u241b")
    assert page.locator("#rows img, #detail img").count() == 0
    cell.click()
    detail = page.locator("#detail .detail-json").inner_text()
    assert "<img src=x onerror=alert(1)>" in detail and "\\u001b[31m" in detail


def test_bidi_controls_are_shown_not_obeyed(page: Any, web: Web) -> None:
    """U+202E would show 'invoice_\u202egnp.exe' as 'invoice_exe.png': it is made visible,
    as C0 controls are, in the list and in the detail."""
    spoof = "invoice_\u202egnp.exe \u2066x\u2069 \u200f"
    web.post([{"kind": "general", "instant": now_ms(), "message": spoof}])
    sign_in(page, web.read_key)
    search(page, "invoice_*")
    cell = page.locator("#rows tr .c-msg")
    expect(cell).to_have_count(1)
    shown = cell.inner_text()
    assert shown == "invoice_\u27e8U+202E\u27e9gnp.exe \u27e8U+2066\u27e9x\u27e8U+2069\u27e9 " \
                    "\u27e8U+200F\u27e9"
    assert not any(c in shown for c in "\u202e\u2066\u2069\u200f")


def test_week_model_panel_for_admins(page: Any, web: Web) -> None:
    sign_in(page, ADMIN)
    page.click("#tab-weeks")
    expect(page.locator("#weeks-cards")).to_contain_text("Current cycle")
    expect(page.locator("#weeks-cards")).to_contain_text("9 weeks")
    table = page.locator("#weeks-table")
    expect(table.locator("tbody tr")).to_have_count(8)
    current = table.locator("tfoot td.current")
    expect(current).to_have_count(1)
    assert int(current.inner_text().replace(",", "")) >= web.total
    assert page.url.endswith("#weeks")
