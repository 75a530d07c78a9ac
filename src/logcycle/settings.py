"""Server settings: one table of (name, default, help). Each is a `logcycle serve` option
``--name`` and an environment variable ``LOGCYCLE_NAME``; docs/settings.md lists them all
(tests/test_docs.py fails when one is missing).

>>> s = Settings(port=8080)
>>> s.port, s.retention_weeks
(8080, 9)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 5380
    store: str = ""  # empty: SQLite at DATA/logcycle.db
    timezone: str = "UTC"
    retention_weeks: int = 9
    durability: str = "normal"
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch_events: int = 10_000
    max_pending_events: int = 50_000
    max_page_size: int = 1000
    max_future_ms: int = 2 * 24 * 3600 * 1000
    read_threads: int = 4
    reads_per_key: int = 0  # 0: all read threads but one (at least 1)
    workers: int = 1
    write_lanes: int = 0  # 0: auto (effective_write_lanes)
    search_index_lag: str = "scan"  # or slow-ingest
    search_index_max_lag_s: float = 10.0
    log_level: str = "info"
    smtp_url: str = ""  # empty: no e-mail notifications
    smtp_from: str = "logcycle@localhost"
    public_url: str = ""  # empty: http://HOST:PORT
    syslog_tcp: int = 0  # 0: off
    syslog_udp: int = 0
    syslog_host: str = "127.0.0.1"
    syslog_tls_cert: str = ""
    syslog_tls_key: str = ""
    syslog_key: str = ""
    protocol_workers: int = 1  # 0: the adapters translate in the event loop
    es_time_field: str = ""
    es_msg_field: str = ""
    auth_failures: int = 20
    trusted_proxies: str = ""
    max_connections: int = 2048
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    archive_dir: str = ""  # empty: no archive
    clock_step_accept_s: float = 3600.0
    index_attributes: str = ""  # top-level attribute keys indexed (both stores), comma separated

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{(self.data / 'logcycle.db').as_posix()}"

    @property
    def effective_write_lanes(self) -> int:
        """Writer connections per process on PostgreSQL: ``write_lanes``, or when it is
        0, 3 for one process (bound by its GIL, it gains by overlapping more round
        trips) and 1 per worker when there are several (the cores are then busy, and
        more writers only contend for the table's last pages): docs/scaling.md."""
        if self.write_lanes > 0:
            return self.write_lanes
        return 3 if self.workers == 1 else 1

    @property
    def effective_reads_per_key(self) -> int:
        """``reads_per_key``, or when 0, every read thread but one: one key alone keeps
        a thread free for any other key's query."""
        return self.reads_per_key or max(1, self.read_threads - 1)

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        """``index_attributes`` as a tuple of keys."""
        return tuple(k.strip() for k in self.index_attributes.split(",") if k.strip())

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


HELP: dict[str, str] = {
    "data": "Directory for the SQLite store and the key secret.",
    "host": "Address to listen on.",
    "port": "TCP port to listen on.",
    "store": "Store URL: sqlite:///path/to.db or postgresql://user@host/db "
             "(default: SQLite at DATA/logcycle.db).",
    "timezone": "Time zone of the weekly rotation (Friday 23:45), an IANA name.",
    "retention_weeks": "Weeks of logs kept besides the current one (1-9).",
    "durability": "normal: an acknowledged event survives a crash of the server process "
                  "(kill -9); full: it also survives power loss (fsync at every commit).",
    "max_body_bytes": "Largest request body accepted (bytes, after gzip decoding).",
    "max_batch_events": "Most events accepted in one batch.",
    "max_pending_events": "Events waiting for the writer before new batches get 503.",
    "max_page_size": "Largest `limit` of one page of results.",
    "max_future_ms": "How far in the future an event's instant may be (ms).",
    "read_threads": "Threads serving queries.",
    "reads_per_key": "Queries one key may run on the read threads at once; more wait "
                     "their turn (0: all the read threads but one, at least 1).",
    "workers": "Server processes sharing the port (more than 1 needs a PostgreSQL store).",
    "write_lanes": "PostgreSQL: writer connections per process whose group commits overlap "
                   "(1-8; 0: 3 with one process, 1 per worker with several).",
    "search_index_lag": "When the message search index trails ingest by more than "
                        "search_index_max_lag_s: scan (searches scan the rows not indexed "
                        "yet, exact and slower) or slow-ingest (new batches get 503 + "
                        "Retry-After until it catches up).",
    "search_index_max_lag_s": "Seconds of ingest the message search index may trail before "
                              "it counts as behind (logged, and see search_index_lag).",
    "log_level": "Server log level: debug, info, warning, error.",
    "smtp_url": "Mail server for alert e-mails: smtp://user:pass@host:port (STARTTLS when "
                "offered) or smtps://… (TLS); empty: no e-mail.",
    "smtp_from": "Sender address of alert e-mails.",
    "public_url": "The server's address as people reach it, for links in alerts "
                  "(default http://HOST:PORT).",
    "syslog_tcp": "TCP port of the syslog listener (RFC 5424/3164, octet counting or one "
                  "message a line); 0: off.",
    "syslog_udp": "UDP port of the syslog listener; 0: off.",
    "syslog_host": "Address the syslog listeners bind to.",
    "syslog_tls_cert": "PEM certificate file: the TCP syslog listener speaks TLS (RFC 5425).",
    "syslog_tls_key": "PEM private key file of --syslog-tls-cert.",
    "syslog_key": "An ingest API key the syslog listeners log as (its --src-prefix applies); "
                  "default: no key, full ingest.",
    "protocol_workers": "Worker processes that translate large request bodies (64 KiB and "
                        "more) of OTLP, Elasticsearch bulk, Loki, Seq/CLEF and syslog "
                        "beside the event loop, on another core (0: in the event loop).",
    "es_time_field": "Elasticsearch bulk: document fields holding the time, comma-separated, "
                     "tried before @timestamp, timestamp, _time.",
    "es_msg_field": "Elasticsearch bulk: document fields holding the message, "
                    "comma-separated, tried before message, msg, _msg.",
    "auth_failures": "Failed authentications (unknown keys) a client address may make per "
                     "minute; beyond them its requests get 429 until the minute ends "
                     "(0: no limit).",
    "trusted_proxies": "Comma-separated addresses or networks of reverse proxies whose "
                       "X-Forwarded-For gives the client's address (default: none; the "
                       "header is ignored).",
    "max_connections": "Open connections per process; at the limit a new one closes the "
                       "connection idle longest (lowered to what the open-file limit "
                       "allows).",
    "max_header_bytes": "Largest header section of a request (bytes); beyond: 431.",
    "max_headers": "Most header lines in a request; beyond: 431.",
    "header_timeout_s": "Seconds a request's headers may take to arrive; then 408 and close.",
    "body_timeout_s": "Seconds a request's body may take to arrive after its headers; "
                      "then 408 and close.",
    "keep_alive_s": "Seconds an idle keep-alive connection is kept open.",
    "index_attributes": "Top-level attribute keys to index behind the writer, comma "
                        "separated (e.g. user_id,tenant), so that attributes.<key>:value is a "
                        "lookup; each costs the writer about as much as a request key.",
    "archive_dir": "Directory where each complete week is exported to Parquet once, before "
                   "retention empties it (docs/export.md); empty: no archive.",
    "clock_step_accept_s": "Seconds a step of the host clock (beyond 2 s) must hold before the "
                           "server follows it; until then it keeps its own time from the "
                           "elapsed time, so nothing rotates or expires early "
                           "(docs/reliability.md#clock; 0: follow every step at once).",
}

FIELDS: tuple[dataclasses.Field[object], ...] = dataclasses.fields(Settings)


def env_name(setting: str) -> str:
    """The environment variable that sets ``setting``: ``LOGCYCLE_<SETTING>``."""
    return "LOGCYCLE_" + setting.upper()


def option_name(setting: str) -> str:
    return "--" + setting.replace("_", "-")
