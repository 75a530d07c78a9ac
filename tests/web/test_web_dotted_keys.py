"""Attribute keys with dots (OpenTelemetry's flat names, ``service.version``) in the page:
the detail row, its click-to-filter and a facet on the field all use the query language's
quoted key (``attributes."service.version"``), in Debian's Chromium against a real
server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Web, now_ms, sign_in
from tests.web.test_web_reading import expect, field_row, search

pytestmark = pytest.mark.browser
FIELD = 'attributes."service.version"'


def test_a_dotted_key_filters_and_counts(page: Any, web: Web) -> None:
    t = now_ms() - 1000
    web.post([{"kind": "general", "instant": t + i, "message": f"dotted release {v}",
               "module_name": "otelsvc", "attributes": {"service.version": v}}
              for i, v in enumerate(("1.2", "1.3", "1.3"))])
    sign_in(page, web.read_key)
    search(page, "dotted release 1.2")
    page.locator("#rows tr").first.click()
    row = field_row(page, FIELD)
    expect(row).to_contain_text("1.2")
    row.hover()
    row.locator("button[data-act='filter']").click()
    expect(page.locator("#f-query")).to_have_value(f"dotted release 1.2 {FIELD}:1.2")
    expect(page.locator("#rows tr")).to_have_count(1)
    page.fill("#facet-add", FIELD)
    page.press("#facet-add", "Enter")
    search(page, "dotted release")
    facet = page.locator(f"#facets [data-facet='{FIELD}'] .facet-value[data-value='1.3']")
    expect(facet.locator(".facet-count")).to_have_text("2")
    facet.click()
    expect(page.locator("#f-query")).to_have_value(f"dotted release {FIELD}:1.3")
    expect(page.locator("#rows tr")).to_have_count(2)
