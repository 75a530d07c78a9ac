"""gzip request bodies: every member is decoded, trailing data is refused (issue 16)."""

from __future__ import annotations

import gzip
import json

from starlette.testclient import TestClient

from logcycle.service import Service
from tests.conftest import error_event

GZ = {"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}


def _line(i: int) -> bytes:
    return json.dumps(error_event(i)).encode() + b"\n"


def _count(service: Service) -> int:
    _, rows = service.store.fetch("SELECT count(*) FROM oslog_error", ())
    return int(rows[0][0])


def test_every_gzip_member_is_decoded(client: TestClient, service: Service) -> None:
    body = gzip.compress(_line(0)) + gzip.compress(_line(1)) + gzip.compress(_line(2))
    r = client.post("/api/v1/events", content=body, headers=GZ)
    assert r.status_code == 200, r.text
    assert len(r.json()["ids"]) == 3 and _count(service) == 3


def test_trailing_garbage_after_gzip_is_a_400(client: TestClient, service: Service) -> None:
    for junk in (b"junk", b"\x00" * 8, gzip.compress(_line(1))[:-4]):
        r = client.post("/api/v1/events", content=gzip.compress(_line(0)) + junk, headers=GZ)
        assert r.status_code == 400, (junk, r.text)
        assert r.json()["error"]["code"] == "invalid_gzip"
    assert _count(service) == 0


def test_the_body_limit_bounds_all_members_together(client: TestClient,
                                                     service: Service) -> None:
    member = gzip.compress(b" " * (5 * 1024 * 1024))  # 5 MiB each, 10 MiB in all > 8 MiB
    r = client.post("/api/v1/events", content=member + member + gzip.compress(b"[]"),
                    headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert _count(service) == 0
