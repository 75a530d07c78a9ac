"""The syslog listeners fed by util-linux ``logger`` (RFC 5424 octet-counted and RFC 3164
one-a-line over TCP, UDP) and by Debian's ``syslog-ng`` (TCP, and TLS with a certificate
made here), read back through the native API."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from logcycle.service import Service
from logcycle.settings import Settings
from tests.conftest import ADMIN, free_port
from tests.shippers.conftest import Live, serve_in_thread

LOGGER = shutil.which("logger")
SYSLOG_NG = shutil.which("syslog-ng") or ("/usr/sbin/syslog-ng"
                                          if os.path.exists("/usr/sbin/syslog-ng") else None)
CI = os.environ.get("CI") == "true"


def need(tool: str | None, name: str) -> str:
    if tool is None:
        if CI:
            pytest.fail(f"{name} is missing (make test installs it as root): CI must run this")
        pytest.skip(f"{name} is not installed (make test installs it when run as root)")
    return tool


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings.replace(syslog_tcp=free_port(), syslog_udp=free_port())


def wait_for(live: Live, q: str, n: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events = live.events(q=q)
        if len(events) >= n or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def logger(*args: str) -> None:
    subprocess.run([need(LOGGER, "util-linux logger"), *args], check=True, timeout=10)


def test_logger_rfc5424_octet_counting_tcp(live: Live) -> None:
    port = str(live.service.settings.syslog_tcp)
    logger("--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P", port,
           "-t", "billing", "--id=4242", "-p", "local3.err", "--msgid", "PAY7",
           "--sd-id", "order@32473", "--sd-param", 'id="o-1"', "logger 5424 payment failed")
    logger("--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P", port,
           "-t", "billing", "-p", "user.info", "logger 5424 second\nwith a newline inside")
    # Two connections: nothing orders their commits (one writer lane may pass another).
    by_message = {e["message"]: e for e in wait_for(live, "logger 5424", 2)}
    first = by_message["logger 5424 payment failed"]
    second = by_message["logger 5424 second\nwith a newline inside"]
    assert (first["message_type"], first["module_name"]) == ("Error", "billing")
    assert first["src"]
    attrs = first["attributes"]
    assert attrs["facility"] == "local3" and attrs["msgid"] == "PAY7"
    assert attrs["structured_data"]["order@32473"] == {"id": "o-1"}
    assert attrs["procid"] == "4242"
    assert abs(first["instant"] - first["insert_instant"]) < 60_000
    assert second["message_type"] == "Information"


def test_logger_rfc3164_newline_tcp_and_udp(live: Live) -> None:
    s = live.service.settings
    logger("--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", str(s.syslog_tcp), "-t", "cron",
           "-p", "cron.warning", "logger 3164 over tcp")
    logger("--udp", "--rfc5424", "-n", "127.0.0.1", "-P", str(s.syslog_udp), "-t", "dns",
           "-p", "daemon.debug", "logger over udp")
    tcp = wait_for(live, "logger 3164", 1)[0]
    assert (tcp["message"], tcp["module_name"], tcp["message_type"]) == \
        ("logger 3164 over tcp", "cron", "Warning")
    assert tcp["attributes"]["facility"] == "cron" and tcp["src"]
    udp = wait_for(live, "logger over udp", 1)[0]
    assert (udp["module_name"], udp["message_type"]) == ("dns", "Debug")


def test_framing_limits_and_wrong_clocks_over_a_raw_socket(live: Live) -> None:
    long_line = b"<13>1 - h raw - - - " + b"y" * 70_000
    frames = [b"<13>1 2031-01-01T00:00:00Z h raw - - - raw from 2031",
              b"<999>raw bad pri", long_line, b"<14>Jan  1 00:00:00 h raw: raw 3164"]
    data = b"".join(b"%d %s" % (len(f), f) for f in frames[:3]) + frames[3] + b"\n"
    with socket.create_connection(("127.0.0.1", live.service.settings.syslog_tcp)) as sock:
        for i in range(0, len(data), 1000):  # frames cut across reads
            sock.sendall(data[i:i + 1000])
    events = wait_for(live, "raw", 2)
    future = next(e for e in events if e["message"] == "raw from 2031")
    assert future["attributes"]["original_timestamp"] == "2031-01-01T00:00:00Z"
    assert abs(future["instant"] - future["insert_instant"]) < 60_000
    long = wait_for(live, "yyyy", 1)[0]
    assert len(long["message"]) == 65_536 and long["attributes"]["truncated"] is True
    assert any(e["message"] == "raw 3164" for e in wait_for(live, "raw 3164", 1))
    assert all("bad pri" not in e["message"] for e in live.events(q="raw"))


SYSLOG_NG_CONF = """@version: 3.38
options {{ keep-hostname(yes); use-dns(no); stats-freq(0); dns-cache(no); }};
source s_in {{ file("{infile}" follow-freq(0.05) flags(no-parse)
                    program-override("webapp") host-override("ng-host")); }};
destination d_out {{ {destination}; }};
log {{ source(s_in); destination(d_out); }};
"""


def run_syslog_ng(tmp: Path, destination: str, lines: list[str]) -> Iterator[None]:
    binary = need(SYSLOG_NG, "Debian's syslog-ng")
    infile = tmp / "in.log"
    infile.write_text("".join(line + "\n" for line in lines))
    conf = tmp / "syslog-ng.conf"
    conf.write_text(SYSLOG_NG_CONF.format(infile=infile, destination=destination))
    proc = subprocess.Popen([binary, "-F", "--no-caps", "-f", str(conf), "-R",
                             str(tmp / "persist"), "-p", str(tmp / "pid"),
                             "-c", str(tmp / "ctl")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.parametrize("driver", ["syslog", "network"])
def test_syslog_ng_tcp(live: Live, tmp_path: Path, driver: str) -> None:
    """syslog(): RFC 5424, octet counting; network(): RFC 3164, one message a line."""
    port = live.service.settings.syslog_tcp
    lines = [f"syslog-ng {driver} line {i}" for i in range(50)]
    for _ in run_syslog_ng(tmp_path, f'{driver}("127.0.0.1" port({port}) transport("tcp"))',
                           lines):
        events = wait_for(live, f"syslog-ng {driver}", 50)
    assert [e["message"] for e in events] == lines
    assert {(e["src"], e["module_name"]) for e in events} == {("ng-host", "webapp")}


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, timeout=60,
                   capture_output=True)
    return cert, key


def test_tls_listener_with_syslog_ng_and_python_ssl(settings: Settings, tmp_path: Path,
                                                    tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    port = free_port()
    tls = settings.replace(syslog_tcp=port, syslog_tls_cert=str(cert), syslog_tls_key=str(key))
    for live in serve_in_thread(Service(tls, bootstrap_key=ADMIN)):
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            frame = b"<11>1 - tls-host app - - - over tls from python"
            sock.sendall(b"%d %s" % (len(frame), frame))
        assert wait_for(live, "over tls from python", 1)[0]["src"] == "tls-host"
        dest = (f'syslog("127.0.0.1" port({port}) transport("tls") '
                f'tls(peer-verify(required-trusted) ca-file("{cert}")))')
        for _ in run_syslog_ng(tmp_path, dest, ["syslog-ng over tls"]):
            events = wait_for(live, "syslog-ng over tls", 1)
        assert [e["message"] for e in events] == ["syslog-ng over tls"]
        with socket.create_connection(("127.0.0.1", port)) as plain:  # no TLS: refused
            plain.sendall(b"<13>plain text on the tls port\n")
        time.sleep(0.3)
        assert live.events(q="plain text") == []


def test_syslog_key_applies_its_src_prefix(settings: Settings) -> None:
    port = free_port()
    setup = Service(settings, bootstrap_key=ADMIN)  # the key exists before the server starts
    setup.open()
    key = Live("", 0, setup).key("ingest", src_prefix="edge-")
    setup.close()
    svc3 = Service(settings.replace(syslog_tcp=port, syslog_key=key), bootstrap_key=ADMIN)
    for live in serve_in_thread(svc3):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"<13>1 - edge-7 app - - - prefixed ok\n"
                         b"<13>1 - core-1 app - - - prefixed refused\n")
        assert [e["src"] for e in wait_for(live, "prefixed ok", 1)] == ["edge-7"]
        time.sleep(0.2)
        assert live.events(q="prefixed refused") == []
        assert live.events(q="prefixed")[0]["message"] == "prefixed ok"


def test_status_counts_each_listener(live: Live) -> None:
    s = live.service.settings
    frames = [b"<13>1 - h counted - - - counted ok 1", b"<999>counted bad pri",
              b"<13>1 - h counted - - - counted ok 2"]
    with socket.create_connection(("127.0.0.1", s.syslog_tcp)) as sock:
        sock.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"<14>1 - h counted - - - counted over udp", ("127.0.0.1", s.syslog_udp))
    assert len(wait_for(live, "counted", 3)) == 3
    deadline = time.monotonic() + 10
    while True:  # the counts move after the commit that the events above show
        status = httpx.get(live.url + "/api/v1/status", headers={"Authorization": ADMIN},
                           timeout=10).json()["syslog"]
        if status["tcp"]["stored"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    tcp, udp_ = status["tcp"], status["udp"]
    assert (tcp["port"], tcp["host"], tcp["tls"]) == (s.syslog_tcp, "127.0.0.1", False)
    assert {k: tcp[k] for k in ("received", "stored", "rejected", "dropped")} == \
        {"received": 3, "stored": 2, "rejected": 1, "dropped": 0}
    assert "1 messages rejected" in tcp["last_error"]["message"]
    assert "PRI" in tcp["last_error"]["message"]
    assert abs(tcp["last_error"]["at"] - time.time() * 1000) < 60_000
    assert {k: udp_[k] for k in ("received", "stored", "rejected", "dropped")} == \
        {"received": 1, "stored": 1, "rejected": 0, "dropped": 0}
    assert udp_["last_error"] is None and udp_["port"] == s.syslog_udp
