"""Screenshots of each view of the web page, for the docs (docs/screenshots/*.png).

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]

Seeds a store with a day of synthetic requests (bench/demo.py) and one failing checkout,
starts `logcycle serve` on it and drives Debian's Chromium through Playwright: sign in,
search, the histogram, an event's fields, the live tail, a request tree, the Reports view,
the Errors view with a group's page, the Alerts view, the week model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import KEY, Server
from demo import seed

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUEST = "7f3c9a52-checkout"


def checkout(t: int) -> list[dict[str, Any]]:
    """One failing checkout: the screen, its drill events and the error of the payment."""
    common = {"request_key": REQUEST, "module_name": "shop"}
    return [
        {"kind": "screen", "instant": t, "duration_ms": 1460, "screen": "Checkout",
         "action_name": "Submit", "user_id": "u1742", **common},
        {"kind": "general", "instant": t + 12, "message": "loading cart: 3 items",
         "message_type": "Debug", "duration_ms": 6, **common},
        {"kind": "request_event", "instant": t + 31, "request_event_name": "QueryExecuted",
         "module_key": "shop", "application_key": "app-1", "application_name": "Store",
         "request_event_details": {"rows": 3, "ms": 18}, **common},
        {"kind": "integration", "instant": t + 60, "duration_ms": 930, "is_expose": False,
         "type": "REST", "endpoint": "/api/payments/charge", "action": "POST", **common,
         "error": {"message": "payment refused by the acquirer",
                   "detail": "PaymentError: HTTP 402 from /api/payments/charge\n"
                             "  at shop.CheckoutAction.Charge() line 212\n"
                             "  at shop.CheckoutAction.Run() line 88"}},
        {"kind": "general", "instant": t + 1000, "message": "rolling back order 52117",
         "message_type": "Information", "duration_ms": 35, **common},
        {"kind": "extension", "instant": t + 1040, "duration_ms": 210,
         "extension_name": "PdfLib", "action_name": "RenderReceipt", **common},
    ]


def post(url: str, events: list[dict[str, Any]]) -> None:
    r = httpx.post(url + "/api/v1/events", json=events, headers={"Authorization": f"Bearer {KEY}"})
    r.raise_for_status()


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"wrote {out / name}.png")


def alerts(url: str) -> None:
    """Three rules, one of them firing to a webhook nobody listens to (127.0.0.1:9): wait
    until its delivery has failed four times (1 + 2 + 4 s of back-off)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    for rule in (
            {"name": "shop errors", "query": "kind:error module_name:shop", "every_s": 1,
             "condition": {"type": "count", "above": 1, "window_s": 86_400},
             "notify": [{"webhook": "http://127.0.0.1:9/hooks/oncall"}]},
            {"name": "slow checkout", "query": "kind:screen screen:Checkout", "every_s": 1,
             "condition": {"type": "stat", "metric": "p95(duration_ms)", "above": 5000,
                           "window_s": 3600}},
            {"name": "new bugs", "every_s": 1, "condition": {"type": "new_error_group"}}):
        httpx.post(url + "/api/v1/alerts", json=rule, headers=headers).raise_for_status()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = httpx.get(url + "/api/v1/alerts", headers=headers).json()["alerts"]
        if got[0]["failed_deliveries"]:
            return
        time.sleep(0.5)


def views(page: Page, url: str, out: Path) -> None:
    page.goto(url)
    page.fill("#key", "wrong-key")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-error:not(:empty)")
    shoot(page, out, "signin")
    page.fill("#key", KEY)
    page.click("#signin-submit")
    page.wait_for_selector("#rows tr")
    page.click("#quick button[data-range='24h']")
    page.wait_for_selector("#histogram svg")
    page.wait_for_timeout(500)
    page.locator("#rows tr.is-error").first.click()
    shoot(page, out, "search")
    page.fill("#f-query", "payment*acquirer")
    page.click("#search")
    page.wait_for_selector("#rows tr")
    page.locator("#rows tr").first.click()
    page.click("#detail-request")
    page.wait_for_selector("#req-tree .node")
    page.locator("#req-tree .node.err .node-row").first.click()
    shoot(page, out, "request")
    page.click("#tabs [data-view='search']")
    page.fill("#f-query", "")
    page.click("#search")
    done = page.get_attribute("#view-search", "data-searches")
    page.click("#quick button[data-range='1h']")
    page.wait_for_selector(f"#view-search:not([data-searches='{done}'])", state="attached")
    page.click("#live")
    page.wait_for_selector("#live-status[data-state='live']")
    now = int(time.time() * 1000)
    post(url, [{"kind": "general", "instant": now, "src": "device/7", "stream": "console",
                "message": "battery low: 14%", "message_type": "Information"},
               {"kind": "error", "instant": now, "module_name": "auth",
                "message": "token refresh failed for session s-88"},
               {"kind": "general", "instant": now, "module_name": "evil",
                "message": "<img src=x onerror=alert(1)> \x1b[31mshown as text\x1b[0m"}])
    page.wait_for_selector("#rows tr.fresh >> nth=2")
    shoot(page, out, "live")
    page.click("#live")
    page.click("#tabs [data-view='reports']")
    page.wait_for_selector("#view-reports[data-loaded]")
    shoot(page, out, "reports")
    page.click("#tabs [data-view='errors']")
    page.wait_for_selector("#errors-rows tr")
    shoot(page, out, "errors")
    page.locator("#errors-rows tr a.group-link").first.click()
    page.wait_for_selector("#group-occurrences li")
    shoot(page, out, "error-group")
    alerts(url)
    page.click("#tab-alerts")
    page.wait_for_selector("#alerts-rows tr")
    shoot(page, out, "alerts")
    page.click("#tab-weeks")
    page.wait_for_selector("#weeks-table tr")
    shoot(page, out, "weeks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        now = int(time.time() * 1000)
        seed(Path(tmp), events=60_000, span_ms=17 * 24 * 3_600_000, now_ms=now - 60_000,
             batch=50, extra=checkout(now - 90_000))
        server = Server(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.on("dialog", lambda d: sys.exit(f"a dialog opened: {d.message}"))
                views(page, server.url, args.out)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
