"""The page as a newcomer meets it (issue 17), in Debian's Chromium against a real server:
an event's fields as a table, one time format in a zone the page names, click to filter
and facets, a pasted request key, the URL as the search, the histogram's labels, errors
and live counts, chosen columns, the request view's errors, the week model's layout and
control characters drawn with real glyphs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ADMIN
from tests.web.conftest import Web, new_tab, now_ms, sign_in

pytestmark = pytest.mark.browser
ISO = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def search(page: Any, query: str) -> None:
    """Search and wait until the page has shown the results (its search counter moved)."""
    before = page.get_attribute("#view-search", "data-searches") or "0"
    page.fill("#f-query", query)
    page.click("#search")
    page.wait_for_selector(f"#view-search[data-searches]:not([data-searches='{before}'])",
                           state="attached")


def hash_params(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).fragment.partition("?")[2])


def field_row(page: Any, name: str) -> Any:
    return page.locator(f"#detail .detail-fields tr[data-field='{name}']")


def test_an_event_reads_as_a_table_of_fields(browser: Any, web: Web) -> None:
    with new_tab(browser, web, permissions=["clipboard-read", "clipboard-write"]) as page:
        sign_in(page, web.read_key)
        search(page, "refused for order 7")
        page.locator("#rows tr").first.click()
        received = field_row(page, "insert_instant").locator("td").first.inner_text()
        ms = int(received.rsplit("·", 1)[1])
        utc = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        assert received.startswith(utc) and "UTC" in received
        stack = field_row(page, "detail").locator("pre.v-lines")
        assert stack.inner_text().split("\n") == [
            "Traceback (most recent call last):", '  File "billing.py", line 7', "PaymentError"]
        expect(field_row(page, "attributes.user_id")).to_contain_text("ada")
        cart = field_row(page, "attributes.cart").locator("details")
        assert cart.get_attribute("open") is None  # folded
        expect(cart.locator("summary")).to_have_text("{…} 1 fields")
        page.click("#detail-copy")
        copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
        assert copied["message"] == "payment refused for order 7" and copied["id"] > 0
        assert copied["attributes"] == {"user_id": "ada", "cart": {"items": 3}}
        page.click("#detail-raw")  # the raw JSON is one click away
        expect(page.locator("#detail .detail-json")).to_contain_text('"user_id": "ada"')


def test_times_have_one_format_a_named_zone_and_a_switch(browser: Any, web: Web) -> None:
    with new_tab(browser, web, timezone_id="Asia/Tokyo") as page:  # UTC+09:00
        sign_in(page, web.read_key)
        expect(page.locator("#zone-label")).to_have_text("UTC")
        header = page.locator("#results-head th").first
        expect(header).to_contain_text("received")
        first = page.locator("#rows tr").first
        utc_text = first.locator("td").first.inner_text()
        assert ISO.match(utc_text)
        start_utc = page.input_value("#f-start")
        assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", start_utc)  # 24-hour ISO
        page.click("#zone button[data-zone='local']")
        expect(page.locator("#zone-label")).to_contain_text("Asia/Tokyo, UTC+09:00")
        local_text = page.locator("#rows tr").first.locator("td").first.inner_text()
        shift = datetime.fromisoformat(local_text) - datetime.fromisoformat(utc_text)
        assert shift == timedelta(hours=9)
        local_start = datetime.fromisoformat(page.input_value("#f-start"))
        assert local_start - datetime.fromisoformat(start_utc) == timedelta(hours=9)
        page.reload()  # the choice persists
        page.wait_for_selector("#rows tr")
        expect(page.locator("#zone-label")).to_contain_text("Asia/Tokyo")
        # a typed range is read in the zone shown
        page.fill("#f-start", "2000-01-01 09:00:00")
        page.fill("#f-end", (datetime.now(UTC) + timedelta(hours=10)).strftime("%Y-%m-%d %H:%M:%S"))
        page.press("#f-end", "Enter")
        page.wait_for_url(re.compile(r"start="))
        assert hash_params(page)["start"] == ["946684800000"]  # 2000-01-01T00:00Z


def test_sort_by_either_time(page: Any, web: Web) -> None:
    instants = [now_ms() - 3_600_000 * k for k in (3, 1, 2)]  # inserted out of instant order
    web.post([{"kind": "general", "instant": t, "message": f"sorted probe {i}",
               "module_name": "sorts"} for i, t in enumerate(instants)])
    sign_in(page, web.read_key)
    search(page, "module_name:sorts")
    received = page.locator("#rows .c-msg").all_inner_texts()
    assert received == ["sorted probe 2", "sorted probe 1", "sorted probe 0"]
    page.click("#columns-toggle")
    page.fill("#col-add", "instant")
    page.click("#col-add-button")
    page.click("#results-head th[data-sort='instant']")
    expect(page.locator("#results-head th[aria-sort]")).to_contain_text("happened")
    expect(page.locator("#rows .c-msg").first).to_have_text("sorted probe 1")
    assert page.locator("#rows .c-msg").all_inner_texts() == [
        "sorted probe 1", "sorted probe 2", "sorted probe 0"]
    assert hash_params(page)["sort"] == ["instant"]
    page.click("#results-head th[data-sort='received']")
    expect(page.locator("#rows .c-msg").first).to_have_text("sorted probe 2")


def test_click_a_value_to_filter_and_facets_count(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    orders = page.locator("td[data-field='module_name'][data-value='orders']")
    row = page.locator("#rows tr", has=orders).first
    row.hover()
    row.locator("td[data-field='module_name'] button[data-act='filter']").click()
    expect(page.locator("#f-query")).to_have_value("module_name:orders")
    expect(page.locator("#hist-total")).to_have_text("130 events")
    kinds = page.locator("#facets [data-facet='kind'] .facet-value")
    expect(kinds).to_have_count(1)
    expect(kinds.first).to_contain_text("general")
    expect(kinds.first.locator(".facet-count")).to_have_text("130")
    search(page, "refused")  # the server's counts (/api/v1/stats), or over the loaded events
    module = page.locator("#facets [data-facet='module_name'] .facet-value[data-value='billing']")
    expect(module.locator(".facet-count")).to_have_text("3")
    module.click()
    expect(page.locator("#f-query")).to_have_value("refused module_name:billing")
    expect(page.locator("#rows tr")).to_have_count(3)
    page.locator("#rows tr").first.click()
    field_row(page, "kind").hover()
    field_row(page, "kind").locator("button[data-act='filter']").click()
    value = page.input_value("#f-query")
    assert value.startswith("refused module_name:billing kind:")
    page.fill("#facet-add", "attributes.user_id")
    page.press("#facet-add", "Enter")
    search(page, "module_name:billing")
    user = page.locator("#facets [data-facet='attributes.user_id'] .facet-value")
    expect(user).to_contain_text("ada")


def test_exclude_a_value_with_the_query_language(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "refused")
    row = page.locator("#rows tr", has=page.locator("td[data-value='billing']")).first
    row.hover()
    row.locator("td[data-field='module_name'] button[data-act='exclude']").click()
    expect(page.locator("#f-query")).to_have_value("refused -module_name:billing")
    expect(page.locator("#rows tr")).to_have_count(1)  # the checkout's payment error
    module = page.locator("#rows td[data-field='module_name']")
    expect(module).to_have_attribute("data-value", "shop")
    facet = page.locator("#facets [data-facet='module_name'] li", has_text="shop")
    facet.locator("button[data-act='exclude']").click()
    expect(page.locator("#f-query")).to_have_value("refused -module_name:billing -module_name:shop")
    expect(page.locator("#more")).to_have_text("No event matches.")


def test_kind_menu_is_a_view_of_the_query(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "refused")
    page.select_option("#f-kind", "error")
    expect(page.locator("#f-query")).to_have_value("kind:error refused")
    expect(page.locator("#rows tr")).to_have_count(2)
    search(page, "kind:general refused")
    expect(page.locator("#f-kind")).to_have_value("general")


def test_a_pasted_request_key_finds_its_request(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, web.request_key)
    hint = page.locator("#key-hint")
    expect(hint).to_contain_text("it is a request key")
    page.click("#key-filter")
    expect(page.locator("#f-query")).to_have_value(f"request_key:{web.request_key}")
    expect(page.locator("#rows tr")).to_have_count(6)  # 5 events and the inline error
    page.fill("#f-query", web.request_key)
    page.click("#search")
    page.click("#key-open")
    expect(page.locator("#view-request")).to_be_visible()
    expect(page.locator("#req-title")).to_have_text(web.request_key)


def test_the_url_holds_search_range_and_event(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "module_name:billing")
    page.click("#quick button[data-range='24h']")
    expect(page.locator("#quick button.active")).to_have_text("1 day")
    page.locator("#rows tr").nth(1).click()
    chosen = page.locator("#rows tr.selected").get_attribute("data-id")
    params = hash_params(page)
    assert params["q"] == ["module_name:billing"] and params["range"] == ["24h"]
    assert params["event"] == [chosen]
    page.reload()
    page.wait_for_selector("#rows tr")
    expect(page.locator("#f-query")).to_have_value("module_name:billing")
    expect(page.locator("#quick button.active")).to_have_text("1 day")
    expect(page.locator("#detail .detail-title")).to_contain_text(f"#{chosen}")
    page.go_back()  # before the event was chosen, before "1 day"
    expect(page.locator("#quick button.active")).to_have_text("1 hour")
    expect(page.locator("#f-query")).to_have_value("module_name:billing")
    page.go_back()
    expect(page.locator("#f-query")).to_have_value("")
    page.go_forward()
    expect(page.locator("#f-query")).to_have_value("module_name:billing")
    expect(page.locator("#rows tr")).to_have_count(3)


def test_histogram_labels_errors_and_live_counts(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    expect(page.locator("#histogram .bar-err")).not_to_have_count(0)  # the errors' share
    assert int(page.locator("#hist-errors").inner_text().split()[0]) >= 2
    page.locator("#histogram g.bucket:not(.empty)").last.click()
    expect(page.locator("#quick button.active")).to_have_count(0)
    page.wait_for_url(re.compile(r"start="))
    bar = page.locator("#histogram g.bucket:not(.empty)").first
    bar.click()  # a bar of the bar: down to seconds or milliseconds
    page.wait_for_timeout(300)
    labels = page.locator("#histogram .tick-label").all_text_contents()
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    page.click("#quick button[data-range='1h']")
    search(page, "")
    before = int(page.locator("#hist-total").inner_text().split()[0])
    page.click("#live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#histogram .hist-head")).to_contain_text("to now")
    web.post([{"kind": "error", "instant": now_ms(), "module_name": "live",
               "message": "counted live"}])
    expect(page.locator("#rows tr.fresh", has_text="counted live")).to_be_visible()
    expect(page.locator("#hist-total")).to_have_text(f"{before + 1} events")
    page.click("#live")


def test_columns_are_chosen_ordered_and_kept(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    page.click("#columns-toggle")
    page.fill("#col-add", "attributes.user_id")
    page.click("#col-add-button")
    head = page.locator("#results-head th")
    expect(head.last).to_have_text("attributes.user_id")
    page.click("#columns li[data-column='attributes.user_id'] button[data-act='up']")
    page.click("#columns li[data-column='kind'] button[data-act='remove']")
    expected = ["received ↓", "module", "attributes.user_id", "message"]
    expect(head).to_have_text(expected)
    search(page, "refused for order 7")
    cell = page.locator("#rows tr").first.locator("td").nth(2)
    expect(cell).to_have_attribute("data-field", "attributes.user_id")
    expect(cell).to_have_attribute("data-value", "ada")
    page.reload()
    page.wait_for_selector("#rows tr")
    expect(page.locator("#results-head th")).to_have_text(expected)


def test_request_view_counts_real_errors_with_visible_bars(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    page.goto(f"{web.url}/#request={web.request_key}")
    expect(page.locator("#req-summary")).to_contain_text("1 failed")  # not the Error-type message
    bar = page.locator("#req-tree li.node.err > .node-row .wf-fill").first
    box = bar.bounding_box()
    assert box is not None and box["width"] >= 6 and box["height"] >= 8


def test_week_model_fills_a_wide_screen(browser: Any, web: Web) -> None:
    with new_tab(browser, web, viewport={"width": 1400, "height": 900}) as page:
        sign_in(page, ADMIN)
        page.click("#tab-weeks")
        cards = page.locator("#weeks-cards .card")
        expect(cards).to_have_count(5)
        rects = cards.evaluate_all("cs => cs.map(c => c.getBoundingClientRect())")
        tops = {round(c["y"]) for c in rects}
        assert len(tops) == 1, tops  # one row
        table = page.locator("#weeks-table").bounding_box()
        view = page.locator("#view-weeks").bounding_box()
        assert table is not None and view is not None and table["width"] >= 0.95 * view["width"]


GLYPH_TEST = """([text, tofu]) => {
  const cell = document.querySelector('#rows tr .c-msg');
  const font = getComputedStyle(cell).font;
  const draw = (s) => {
    const c = document.createElement('canvas'); c.width = 40; c.height = 30;
    const g = c.getContext('2d'); g.font = font; g.fillText(s, 4, 20);
    return Array.from(g.getImageData(0, 0, 40, 30).data).join(',');
  };
  return document.fonts.load(font, text).then(() => [draw(text), draw(tofu), draw('')]);
}"""


def test_control_pictures_draw_real_glyphs(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    search(page, "*onerror*")
    for char in ("\u241b", "\u2400", "\u2407"):
        glyph, tofu, blank = page.evaluate(GLYPH_TEST, [char, "\ue000"])
        assert glyph != blank, f"{char!r} draws nothing"
        assert glyph != tofu, f"{char!r} draws as an empty box"
