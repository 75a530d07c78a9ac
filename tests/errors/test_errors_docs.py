"""docs/errors.md and docs/alerts.md, word for word: the masking table is what the code
masks, and the rule shown is accepted as it is."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from starlette.testclient import TestClient

from logcycle.alerts.notify import Note
from logcycle.alerts.rules import parse_rule
from logcycle.alerts.scheduler import link
from logcycle.ingest.fingerprint import mask_message

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_masking_table() -> None:
    rows = re.findall(r"^   \| `(.+?)` \| `(.+?)` \|$", (DOCS / "errors.md").read_text(), re.M)
    assert len(rows) == 6
    for message, masked in rows:
        assert mask_message(message) == masked


def test_the_rule_example_is_accepted(client: TestClient) -> None:
    rule = re.findall(r"```json\n(.*?)```", (DOCS / "alerts.md").read_text(), re.S)[0]
    r = client.post("/api/v1/alerts", content=rule)
    assert r.status_code == 200, r.text
    assert orjson.loads(rule)["name"] == r.json()["name"] == "checkout errors"


def test_the_notification_example_is_what_is_sent() -> None:
    """The webhook body of alerts.md has the fields of a Note, and its link is the one the
    scheduler makes for the example rule at the example's time."""
    blocks = re.findall(r"```json\n(.*?)```", (DOCS / "alerts.md").read_text(), re.S)
    rule, sent = parse_rule(blocks[0].encode()), orjson.loads(blocks[1])
    note = Note(1, rule.name, "firing", 12, 10, rule.query, {}, sent["started_at"],
                sent["at"], "")
    assert set(sent) == set(note.body())
    assert sent["link"] == link("http://127.0.0.1:5380", rule, sent["at"])
