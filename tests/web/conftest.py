"""Fixtures of the browser tests: Debian's Chromium driven by Playwright for Python, and a
real `logcycle serve` with a few requests, an XSS attempt and enough events to scroll.

Without Chromium (``/usr/bin/chromium``, or ``$LOGCYCLE_CHROMIUM``) or Playwright the
browser tests skip with the reason; with ``CI=true`` they fail instead: CI must run them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, ServerProcess

CHROMIUM = os.environ.get("LOGCYCLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
XSS = "<img src=x onerror=alert(1)> \x1b[31mred\x1b[0m"
SCROLL_EVENTS = 130  # more than one page (100)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"Chromium is not at {CHROMIUM} (apt-get install chromium, or set "
                "LOGCYCLE_CHROMIUM)")
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = browser_missing()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the browser tests cannot run: {why}", pytrace=False)
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Web:
    """The server under test, its keys and what was seeded."""

    server: ServerProcess
    read_key: str
    ingest_key: str
    request_key: str = "req-checkout-1"
    total: int = 0
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, events: list[dict[str, Any]]) -> list[int]:
        r = httpx.post(self.url + "/api/v1/events", json=events,
                       headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert r.status_code == 200, r.text
        ids: list[int] = r.json()["ids"]
        self.total += len(ids)
        return ids


def now_ms() -> int:
    return int(time.time() * 1000)


def create_key(data: Path, scope: str) -> str:
    out = subprocess.run([sys.executable, "-m", "logcycle", "keys", "create", "--scope", scope,
                          "--data", str(data)], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def wait_for_keys(web: Web) -> None:
    """New keys take effect within a second (the server reloads its key cache)."""
    deadline = time.monotonic() + 10
    for key in (web.read_key, web.ingest_key):
        while httpx.get(web.url + "/api/v1/whoami", headers={"Authorization": key},
                        timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the server never accepted the new key"
            time.sleep(0.1)


def seed(web: Web) -> None:
    t = now_ms() - 5000
    web.post([
        {"kind": "screen", "instant": t, "duration_ms": 320, "screen": "Checkout",
         "request_key": web.request_key, "module_name": "shop", "user_id": "u7"},
        {"kind": "general", "instant": t + 10, "message": "loading cart", "duration_ms": 4,
         "request_key": web.request_key, "module_name": "shop"},
        {"kind": "integration", "instant": t + 40, "duration_ms": 180, "is_expose": False,
         "endpoint": "/api/payments/charge", "type": "REST", "request_key": web.request_key,
         "module_name": "shop", "error": {"message": "payment refused",
                                          "detail": "HTTP 402 from the acquirer\n  at charge()"}},
        {"kind": "general", "instant": t + 250, "message": "charge retry scheduled",
         "message_type": "Error", "request_key": web.request_key, "module_name": "shop"},
        {"kind": "general", "instant": t + 300, "message": "rolled back", "duration_ms": 2,
         "request_key": web.request_key, "module_name": "shop"},
    ])
    web.total += 1  # the inline error is stored as an event of its own
    web.post([
        {"kind": "error", "instant": t, "module_name": "billing",
         "message": "payment refused for order 7",
         "detail": ("Traceback (most recent call last):\n"
                    '  File "billing.py", line 7\nPaymentError'),
         "attributes": {"user_id": "ada", "cart": {"items": 3}}},
        {"kind": "general", "instant": t, "message": "Payment of order 8 was refused",
         "module_name": "billing", "message_type": "Error"},
        {"kind": "general", "instant": t, "message": "refused: payment", "module_name": "billing"},
    ])
    (web.ids["xss"],) = web.post([{"kind": "general", "instant": t, "message": XSS,
                                   "module_name": "evil"}])
    web.post([{"kind": "general", "instant": t + i, "message": f"order {i} processed",
               "module_name": "orders", "src": "dev/1", "stream": "console"}
              for i in range(SCROLL_EVENTS)])


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Web]:
    data = tmp_path_factory.mktemp("web") / "data"
    server = ServerProcess(data).start()
    try:
        w = Web(server, read_key=create_key(data, "read"), ingest_key=create_key(data, "ingest"))
        wait_for_keys(w)
        seed(w)
        yield w
    finally:
        server.stop()
        if server.proc is not None and server.proc.stdout is not None:
            server.proc.stdout.close()


@pytest.fixture
def page(browser: Any, web: Web) -> Iterator[Any]:
    """A fresh tab (fresh session storage) on the page; fails the test on a script error,
    a dialog (an XSS would open one) or a Content-Security-Policy violation."""
    with new_tab(browser, web) as tab:
        yield tab


@contextmanager
def new_tab(browser: Any, web: Web, **context: Any) -> Iterator[Any]:
    """A tab in a new browser context (``viewport``, ``timezone_id``… as Playwright takes
    them), failing the test on a script error, a dialog or a CSP violation."""
    ctx = browser.new_context(**{"viewport": {"width": 1300, "height": 900}, **context})
    tab = ctx.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    tab.on("console", lambda m: problems.append(f"console: {m.text}")
           if m.type == "error" and "status of 401" not in m.text else None)
    tab.goto(web.url)
    yield tab
    ctx.close()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def sign_in(page: Any, key: str) -> None:
    page.fill("#key", key)
    page.click("#signin-submit")
    page.wait_for_selector("#view-search:not([hidden])")
    page.wait_for_selector("#rows tr")
