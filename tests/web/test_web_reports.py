"""The Reports view in a real browser (Debian's Chromium through Playwright) against a real
server: per-name tables whose numbers are those of GET /api/v1/stats, sorting, the chart,
and a click that lists the slowest and failed requests and opens their request tree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.web.conftest import Web, now_ms, sign_in

pytestmark = pytest.mark.browser
DURATIONS = {"Orders": [100, 200, 300, 400, 5000], "Profile": [50, 60]}


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def reports(web: Web) -> Web:
    t = now_ms() - 60_000
    web.post([{"kind": "screen", "instant": t, "duration_ms": d, "screen": name,
               "request_key": f"req-{name}-{d}"}
              for name, durations in DURATIONS.items() for d in durations])
    return web


def open_reports(page: Any, web: Web) -> None:
    sign_in(page, web.read_key)
    page.click("#tabs [data-view='reports']")
    page.wait_for_selector("#view-reports[data-loaded]")


def cells(page: Any, name: str) -> list[str]:
    row = page.locator(f"#reports-table tbody tr[data-name='{name}']")
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_the_screens_report_shows_the_numbers_of_the_stats_api(page: Any,
                                                               reports: Web) -> None:
    open_reports(page, reports)
    api = httpx.get(reports.url + "/api/v1/stats", headers={"Authorization": ADMIN}, params={
        "kind": "screen", "by": "screen", "start": now_ms() - 3_600_000,
        "metrics": "count,error_rate,avg(duration_ms),p95(duration_ms),max(duration_ms)"})
    rows = {r["screen"]: r for r in api.json()["rows"]}
    assert rows["Orders"]["p95(duration_ms)"] == 5000 and rows["Orders"]["count"] == 5
    # the checkout's request has an error (its payment call's): the screen failed
    assert rows["Checkout"]["error_rate"] == 1.0 and rows["Orders"]["error_rate"] == 0
    for name in ("Orders", "Profile", "Checkout"):
        got = cells(page, name)
        r = rows[name]
        assert got[:7] == [name, str(r["count"]), str(round(r["count"] * r["error_rate"])),
                           f"{r['error_rate'] * 100:.1f}%",
                           f"{round(r['avg(duration_ms)']):,} ms",
                           f"{round(r['p95(duration_ms)']):,} ms",
                           f"{round(r['max(duration_ms)']):,} ms"], (name, got)
    assert page.locator("#reports-table tbody tr[data-name='Orders'] svg.spark rect").count() >= 1
    page.click("#reports-table th[data-sort='p95(duration_ms)']")
    names = page.locator("#reports-table tbody td.c-name").all_inner_texts()
    assert names[0] == "Orders" and names[-1] == "Profile"
    page.click("#reports-table th[data-sort='p95(duration_ms)']")  # again: ascending
    assert page.locator("#reports-table tbody td.c-name").first.inner_text() == "Profile"


def test_a_row_lists_its_slowest_requests_and_opens_one(page: Any, reports: Web) -> None:
    open_reports(page, reports)
    page.click("#reports-table tbody tr[data-name='Orders']")
    slowest = page.locator("#reports-slowest li")
    expect(slowest).to_have_count(1)  # only 5000 ms is at or above the p95
    expect(slowest.first).to_contain_text("5,000 ms")
    slowest.first.locator("button").click()
    expect(page.locator("#view-request")).to_be_visible()
    expect(page.locator("#req-title")).to_have_text("req-Orders-5000")


def test_consumed_integrations_count_their_errors(page: Any, reports: Web) -> None:
    open_reports(page, reports)
    page.click("#reports-kinds [data-report='consumed']")
    row = "#reports-table tbody tr[data-name='/api/payments/charge']"
    page.wait_for_selector(row)
    got = cells(page, "/api/payments/charge")
    assert got[1:4] == ["1", "1", "100.0%"], got
    page.click(row)
    failed = page.locator("#reports-failed li")
    expect(failed).to_have_count(1)
    failed.first.locator("button").click()
    expect(page.locator("#req-title")).to_have_text(reports.request_key)


def test_a_screen_whose_request_failed_is_listed_as_failed(page: Any, reports: Web) -> None:
    open_reports(page, reports)
    page.click("#reports-table tbody tr[data-name='Checkout']")
    failed = page.locator("#reports-failed li")
    expect(failed).to_have_count(1)
    expect(failed.first).to_contain_text(reports.request_key)
    page.click("#reports-table tbody tr[data-name='Orders']")
    expect(page.locator("#reports-failed")).to_contain_text("none")
