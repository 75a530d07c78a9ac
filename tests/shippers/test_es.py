"""Elasticsearch / OpenSearch bulk with the real clients: ``elasticsearch``'s
``helpers.bulk`` and ``opensearch-py``, against the real server; read back through the
native API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch
from elasticsearch import helpers as es_helpers
from opensearchpy import OpenSearch
from opensearchpy import helpers as os_helpers

from tests.shippers.conftest import Live


def now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def docs(tag: str) -> list[dict[str, Any]]:
    return [
        {"_index": "shop-logs", "@timestamp": now_iso(), "message": f"{tag} paid",
         "log": {"level": "warn"}, "host": {"name": "web-1"}, "service": {"name": "shop"},
         "trace.id": f"{tag}-trace", "user": {"id": 7, "roles": ["a", "b"]}},
        {"_index": "shop-logs", "@timestamp": now_iso(), "msg": "x" * 70_000},  # too long
        {"_index": "shop-logs", "@timestamp": "2030-01-01T00:00:00Z", "message": f"{tag} 2030"},
        {"_index": "shop-logs", "message": f"{tag} no time", "level": "error"},
    ]


def check_stored(live: Live, tag: str) -> None:
    events = [e for e in live.events(q=tag)]
    by_msg = {e["message"]: e for e in events}
    assert set(by_msg) == {f"{tag} paid", f"{tag} 2030", f"{tag} no time"}
    paid = by_msg[f"{tag} paid"]
    assert (paid["message_type"], paid["src"], paid["module_name"], paid["request_key"],
            paid["stream"]) == ("Warning", "web-1", "shop", f"{tag}-trace", "shop-logs")
    assert paid["attributes"] == {"user": {"id": 7, "roles": ["a", "b"]}}
    late = by_msg[f"{tag} 2030"]
    assert late["attributes"] == {"original_timestamp": "2030-01-01T00:00:00Z"}
    assert abs(late["instant"] - late["insert_instant"]) < 60_000
    assert by_msg[f"{tag} no time"]["message_type"] == "Error"


def test_elasticsearch_helpers_bulk(live: Live) -> None:
    es = Elasticsearch(live.url + "/es", api_key=("shipper", live.key()), request_timeout=10)
    assert es.info()["version"]["number"].startswith("8.")
    ok, errors = es_helpers.bulk(es, docs("esclient"), raise_on_error=False)
    assert ok == 3
    assert isinstance(errors, list) and len(errors) == 1
    err = errors[0]["index"]
    assert err["status"] == 400 and "message" in err["error"]["reason"]
    check_stored(live, "esclient")
    es.close()


def test_elasticsearch_basic_auth_and_errors(live: Live) -> None:
    es = Elasticsearch(live.url + "/es", basic_auth=("elastic", live.key()), request_timeout=10)
    ok, _ = es_helpers.bulk(es, [{"_index": "a", "message": "basic ok"}], raise_on_error=False)
    assert ok == 1
    wrong = Elasticsearch(live.url + "/es", basic_auth=("elastic", "nope"), request_timeout=10)
    with pytest.raises(AuthenticationException):
        es_helpers.bulk(wrong, [{"_index": "a", "message": "never"}])
    reader = Elasticsearch(live.url + "/es", api_key=live.key("read"), request_timeout=10)
    with pytest.raises(AuthorizationException, match="scope"):
        es_helpers.bulk(reader, [{"_index": "a", "message": "never"}])
    assert [e["message"] for e in live.events(q="never")] == []
    es.close()


def test_opensearch_py_bulk(live: Live) -> None:
    client = OpenSearch(hosts=[{"host": "127.0.0.1", "port": live.port, "url_prefix": "es"}],
                        http_auth=("admin", live.key()), timeout=10)
    assert client.info()["version"]["number"]
    ok, errors = os_helpers.bulk(client, docs("osclient"), raise_on_error=False)
    assert ok == 3 and len(errors) == 1
    check_stored(live, "osclient")


def test_raw_bulk_actions_gzip_and_overrides(live: Live) -> None:
    import gzip

    key = live.key()
    body = b"\n".join([
        b'{"create":{"_index":"raw"}}', b'{"event_text":"custom field","t":1700000000}',
        b'{"delete":{"_id":"1"}}',
        b'{"update":{"_id":"1"}}', b'{"doc":{}}',
        b'{"index":{}}', b'not json',
    ]) + b"\n"
    r = httpx.post(live.url + "/es/logs/_bulk?_msg_field=event_text&_time_field=t&refresh=true",
                   content=gzip.compress(body), timeout=10,
                   headers={"Authorization": f"Bearer {key}", "Content-Encoding": "gzip",
                            "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["x-elastic-product"] == "Elasticsearch"
    out = r.json()
    assert out["errors"] is True
    statuses = [next(iter(i.values()))["status"] for i in out["items"]]
    assert statuses == [201, 400, 400, 400]
    assert [next(iter(i)) for i in out["items"]] == ["create", "delete", "update", "index"]
    (stored,) = live.events(q="custom field")
    assert stored["instant"] == 1_700_000_000_000 and stored["stream"] == "raw"
    bad = httpx.post(live.url + "/es/_bulk", content=b'{"create":{}}\n{"a":1}\n{"oops"\n',
                     headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "parse_exception"
    assert bad.headers["x-elastic-product"] == "Elasticsearch"
    assert live.events(q="a") == [] or all(e["message"] != "" for e in live.events(q="a"))


def test_probes_answer_what_shippers_need(live: Live) -> None:
    h = {"Authorization": f"Bearer {live.key()}"}
    for method, path, want in [("GET", "/es/", "version"), ("GET", "/es/_license", "license"),
                               ("GET", "/es/_cluster/health", "status"),
                               ("GET", "/es/_nodes/http", "nodes"),
                               ("HEAD", "/es/_index_template/filebeat", None),
                               ("PUT", "/es/_index_template/filebeat", "acknowledged"),
                               ("GET", "/es/_ilm/policy/filebeat", None)]:
        r = httpx.request(method, live.url + path, headers=h, json={} if method == "PUT" else None)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["x-elastic-product"] == "Elasticsearch"
        if want:
            assert want in r.json()
    r = httpx.get(live.url + "/es/_search", headers=h)
    assert r.status_code == 404 and "only bulk" in r.json()["error"]["reason"]
    assert httpx.get(live.url + "/es/").status_code == 401
