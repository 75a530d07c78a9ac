"""docs/query.md's examples, word for word, on both stores: the events it shows are
stored, and every row of its table finds what it says."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson
from starlette.testclient import TestClient

DOC = (Path(__file__).resolve().parents[2] / "docs" / "query.md").read_text()


def examples() -> list[tuple[str, list[str]]]:
    section = DOC.split("## Examples", 1)[1].split("## Statistics", 1)[0]
    rows = re.findall(r"^\| `(.+?)` \| (.+?) \|$", section, flags=re.M)
    out = [(query, sorted(re.findall(r"`([a-z_]+ r\d)`", finds))) for query, finds in rows]
    assert len(out) >= 10
    return out


def load_events(client: TestClient) -> None:
    events = re.search(r"```json\n(.*?)```", DOC, flags=re.S)
    assert events is not None
    r = client.post("/api/v1/events", content=events.group(1),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_every_example_finds_what_the_doc_says(client: TestClient) -> None:
    load_events(client)
    wrong = []
    for query, finds in examples():
        r = client.get("/api/v1/events", params={"query": query})
        assert r.status_code == 200, (query, r.text)
        got = sorted(f"{e['kind']} {e['request_key']}" for e in r.json()["events"])
        if got != finds:
            wrong.append((query, got, finds))
    assert wrong == []


def test_the_curl_example_is_a_valid_query(client: TestClient) -> None:
    block = re.search(r"```sh\n(.*?)```", DOC, flags=re.S)
    assert block is not None
    words = shlex.split(block.group(1).replace("\\\n", " "))
    assert words[:3] == ["curl", "-s", "-G"]
    url = next(w for w in words if w.startswith("http://"))
    query = words[words.index("--data-urlencode") + 1]
    name, _, value = query.partition("=")
    r = client.get(url.removeprefix("http://127.0.0.1:5380"), params={name: value})
    assert r.status_code == 200, r.text
    assert orjson.loads(r.content)["events"] == []


def test_every_statistics_example_answers_what_the_doc_says(client: TestClient) -> None:
    load_events(client)
    section = DOC.split("## Statistics", 1)[1].split("## How it runs", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+=.+?)` \| `(.+?)` \|$", section, flags=re.M)
    assert len(rows) >= 3
    for request, answer in rows:
        r = client.get("/api/v1/stats?" + request.replace(" ", "%20"))
        assert r.status_code == 200, (request, r.text)
        assert r.json()["rows"] == orjson.loads(answer), request
