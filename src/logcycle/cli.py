"""The ``logcycle`` command: ``serve``, ``keys``, ``maintain``, ``export``, ``migrate``.

Every option of ``serve`` is a setting (logcycle.settings) and also reads the environment
variable ``LOGCYCLE_<OPTION>``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from logcycle import __version__, cycles
from logcycle.errors import LogcycleError
from logcycle.keys import SCOPES, hash_key, load_secret, new_key
from logcycle.kinds import KIND_NAMES
from logcycle.settings import FIELDS, HELP, Settings, env_name, option_name

_COMMON = ("data", "store", "timezone", "retention_weeks", "durability")


def _options(names: tuple[str, ...] | None = None) -> Callable[[Any], Any]:
    """click options for the named settings (all when None), from the settings table."""
    def decorate(fn: Any) -> Any:
        for f in reversed(FIELDS):
            if names is not None and f.name not in names:
                continue
            default = f.default
            typ: Any = click.Path(path_type=Path) if isinstance(default, Path) else type(default)
            fn = click.option(option_name(f.name), f.name, type=typ, envvar=env_name(f.name),
                              default=default, show_default=True,
                              help=f"{HELP[f.name]} [env {env_name(f.name)}]")(fn)
        return fn
    return decorate


def _settings(values: dict[str, Any]) -> Settings:
    try:
        s = Settings(**values)
        cycles.check_retention(s.retention_weeks)
        s.tz  # noqa: B018  # fails early on an unknown time zone
        return s
    except Exception as exc:
        raise click.UsageError(str(exc)) from exc


def _fail(message: str) -> None:
    click.echo(f"logcycle: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="logcycle")
def main() -> None:
    """logcycle: a self-hosted log and event service.

    \b
    Quick start:
      logcycle serve                      # http://127.0.0.1:5380, data in ./data
      logcycle keys create --scope read   # a key for a reader
      logcycle maintain                   # rotate and expire now (the server does it itself)
    """


@main.command()
@_options()
def serve(**values: Any) -> None:
    """Run the server (HTTP APIs and the web page).

    On a first start with no key and no LOGCYCLE_API_KEY, one admin key is created and
    printed once. The server rotates the weekly tables by itself at each Friday 23:45.
    """
    from logcycle import serving
    from logcycle.service import Service

    settings = _settings(values)
    why = serving.check_workers(settings) or serving.check_port(settings.host, settings.port)
    if why:
        _fail(why)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        svc = Service(settings, bootstrap_key=os.environ.get("LOGCYCLE_API_KEY") or None)
        svc.open()
    except (LogcycleError, ValueError, OSError) as exc:
        _fail(f"cannot start: {exc}")
        return
    if svc.auth.env_key_active:  # never the key itself
        click.echo("The environment key (LOGCYCLE_API_KEY) is active: an admin key, shown "
                   "as env-key in logs and whoami; it is not stored.", err=True)
    key = svc.first_key()
    if key:
        click.echo("Created the first admin key (shown once, keep it):\n"
                   f"  {key}\nUse it as: Authorization: Bearer {key}")
    click.echo(f"logcycle {__version__} on http://{settings.host}:{settings.port} "
               f"(store: {svc.store.dialect.name})", err=True)
    if settings.workers > 1:
        svc.close()  # each worker opens its own
        serving.serve_workers(settings)
    else:
        serving.serve(settings, svc)


def _open_store(values: dict[str, Any], maintain: bool = False) -> Any:
    from logcycle.clock import SystemClock
    from logcycle.store.factory import make_store

    settings = _settings(values)
    try:
        store = make_store(settings)
        store.open(SystemClock().now_ms(), maintain=maintain)
    except (LogcycleError, ValueError, OSError) as exc:
        # Not the URL itself: it may hold a password; the error says which store.
        _fail(f"cannot open the store: {exc}")
    return settings, store


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (works while a server runs on the same store)."""


@keys.command("create")
@click.option("--scope", type=click.Choice(SCOPES), required=True,
              help="ingest: write only; read: read only; admin: everything.")
@click.option("--name", default=None, help="A label to recognise the key by.")
@click.option("--src-prefix", default=None,
              help="Limit the key to the general events whose src starts with this: it "
                   "writes and reads only those (records, entities and status refused).")
@_options(_COMMON)
def keys_create(scope: str, name: str | None, src_prefix: str | None, **values: Any) -> None:
    """Create a key; it is printed once, as the last word of the output."""
    from logcycle.clock import SystemClock

    settings, store = _open_store(values)
    key = new_key()
    key_id = store.add_key(hash_key(load_secret(settings.data), key), scope, name, src_prefix,
                           SystemClock().now_ms())
    store.close()
    click.echo(f"created key {key_id} (scope {scope}); it is shown only now:\n{key}")


@keys.command("list")
@_options(_COMMON)
def keys_list(**values: Any) -> None:
    """List keys (never the keys themselves: only their ids, scopes and labels). With
    LOGCYCLE_API_KEY set here, as for `serve`, its key is listed first as env-key."""
    _, store = _open_store(values)
    rows = store.list_keys()
    store.close()
    click.echo(f"{'ID':>7}  {'SCOPE':<7} {'CREATED':<20} {'REVOKED':<20} NAME")
    if os.environ.get("LOGCYCLE_API_KEY"):
        click.echo(f"{'env-key':>7}  {'admin':<7} {'-':<20} {'-':<20} LOGCYCLE_API_KEY "
                   "(from the environment, not stored)")
    for r in rows:
        click.echo(f"{r.id:>7}  {r.scope:<7} {_iso(r.created):<20} "
                   f"{_iso(r.revoked) if r.revoked else '-':<20} {r.name or ''}"
                   + (f" (src prefix {r.src_prefix})" if r.src_prefix else ""))


@keys.command("revoke")
@click.argument("key_id", type=int)
@_options(_COMMON)
def keys_revoke(key_id: int, **values: Any) -> None:
    """Revoke key KEY_ID (see `keys list`); it stops working within a second."""
    from logcycle.clock import SystemClock

    _, store = _open_store(values)
    done = store.revoke_key(key_id, SystemClock().now_ms())
    store.close()
    if not done:
        _fail(f"no active key with id {key_id}: see `logcycle keys list`")
    click.echo(f"revoked key {key_id}")


@main.group()
def alerts() -> None:
    """List, add and remove alert rules (docs/alerts.md; works while a server runs)."""


@alerts.command("list")
@_options(_COMMON)
def alerts_list(**values: Any) -> None:
    """List alert rules with their state and failed deliveries."""
    from logcycle.alerts import registry

    _, store = _open_store(values)
    rows = registry.list_alerts(store)
    store.close()
    click.echo(f"{'ID':>4}  {'STATE':<7} {'EVERY':>6}  {'FAILED':>6}  NAME")
    for a in rows:
        click.echo(f"{a['id']:>4}  {a['state']:<7} {a['every_s']:>5}s  "
                   f"{len(a['failed_deliveries']):>6}  {a['name']}")


@alerts.command("add")
@click.argument("rule_json")
@_options(_COMMON)
def alerts_add(rule_json: str, **values: Any) -> None:
    """Add the rule RULE_JSON (a JSON object, or @FILE to read it from a file)."""
    from logcycle.alerts import registry
    from logcycle.alerts.rules import parse_rule
    from logcycle.clock import SystemClock

    text = Path(rule_json[1:]).read_text() if rule_json.startswith("@") else rule_json
    try:
        rule = parse_rule(text.encode())
    except LogcycleError as exc:
        _fail(exc.message)
    _, store = _open_store(values)
    try:
        alert_id = registry.add(store, rule, SystemClock().now_ms())
    except LogcycleError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"added alert {alert_id} ({rule.name})")


@alerts.command("remove")
@click.argument("alert_id", type=int)
@_options(_COMMON)
def alerts_remove(alert_id: int, **values: Any) -> None:
    """Remove alert ALERT_ID (see `logcycle alerts list`)."""
    from logcycle.alerts import registry

    _, store = _open_store(values)
    try:
        registry.remove(store, alert_id)
    except LogcycleError as exc:
        _fail(exc.message)
    finally:
        store.close()
    click.echo(f"removed alert {alert_id}")


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@main.command()
@click.option("--now", "now_iso", default=None, metavar="ISO-8601",
              help="Run as of this instant (default: now), e.g. 2026-11-27T23:45:00Z.")
@click.option("--force", is_flag=True, help="Allow going back to an earlier week.")
@click.option("--ahead-of-clock", is_flag=True,
              help="Allow --now more than a week ahead of this host's clock (it empties "
                   "the tables that are older than the retention as of --now).")
@_options(_COMMON)
def maintain(now_iso: str | None, force: bool, ahead_of_clock: bool, **values: Any) -> None:
    """Run rotation and retention as of a time: move the views to that week's tables and
    empty the tables older than the retention."""
    from logcycle.clock import SystemClock
    from logcycle.ingest.tasks import Maintain

    settings, store = _open_store(values, maintain=False)
    clock = SystemClock().now_ms()
    try:
        now = cycles.ms_of(now_iso.replace("Z", "+00:00")) if now_iso else clock
    except ValueError as exc:
        _fail(f"--now: {exc}")
        return
    if now - clock > cycles.WEEK_MS and not ahead_of_clock:
        plan = cycles.plan(cycles.week_of(now, settings.tz), store.held(),
                           settings.retention_weeks)
        words = _emptied(store, plan.empty)
        store.close()
        _fail(f"--now is {(now - clock) / 86_400_000:.1f} days ahead of this host's clock: "
              f"it would empty {words}, and a server on this store would write into week "
              f"{plan.week} until its clock gets there. If that is what you want, run "
              "again with --ahead-of-clock")
    if settings.archive_dir:  # archived before the run may empty them (store/archive.py)
        from logcycle.store.archive import Archiver

        Archiver(store, Path(settings.archive_dir), tz=settings.tz,
                 clock=SystemClock()).run_once(now)
    sizes = _cycle_rows(store)
    (result,) = store.apply([Maintain(now, force=force)], now)
    store.close()
    if isinstance(result, LogcycleError):
        _fail(result.message)
    emptied = ", ".join(f"{c} ({sizes.get(c, 0)} events)" for c in result.emptied)
    click.echo(f"week {result.week}: current cycle {result.current_cycle}, previous "
               f"{result.previous_cycle}; emptied cycles: {emptied or 'none'}; retention "
               f"{settings.retention_weeks} weeks")


def _cycle_rows(store: Any) -> dict[int, int]:
    """Events held by each cycle's tables."""
    out: dict[int, int] = {}
    for name, n in store.table_sizes().items():
        cycle = int(name.rsplit("_", 1)[1])
        out[cycle] = out.get(cycle, 0) + n
    return out


def _emptied(store: Any, empty: frozenset[int]) -> str:
    if not empty:
        return "no table"
    held, rows = store.held(), _cycle_rows(store)
    parts = [f"cycle {c} (week {held.get(c)}, {rows.get(c, 0)} events)" for c in sorted(empty)]
    return f"{sum(rows.get(c, 0) for c in empty)} events in " + ", ".join(parts)


def _instant(value: str, name: str) -> int:
    from logcycle.api.http import parse_instant

    try:
        ms = parse_instant(value, name)
    except LogcycleError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{name}") from None
    assert ms is not None
    return ms


@main.command("export")
@click.option("--start", required=True, metavar="ISO-8601|MS",
              help="First insert instant to export, e.g. 2026-11-16T00:00:00Z.")
@click.option("--end", required=True, metavar="ISO-8601|MS", help="Last insert instant.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(list(KIND_NAMES)),
              help="A kind to export (repeat it; default: every kind).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "ndjson"]), default="parquet",
              show_default=True, help="Parquet (typed columns, zstd) or NDJSON.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Directory of the files (one per kind and week) and manifest.json.")
@_options(_COMMON)
def export_command(start: str, end: str, kinds: tuple[str, ...], fmt: str, out: Path,
                   **values: Any) -> None:
    """Copy events into columnar files, one per kind and week, for DuckDB, ClickHouse,
    Spark or pandas. Safe while a server runs (reads in short chunks); run it again after
    an interruption and it goes on where it stopped (docs/export.md)."""
    from logcycle.store import export

    lo, hi = _instant(start, "start"), _instant(end, "end")
    if lo > hi:
        raise click.BadParameter("--start is after --end", param_hint="--start")
    settings, store = _open_store(values, maintain=False)
    try:
        parts = export.plan(store, lo, hi, kinds or KIND_NAMES, settings.tz)
        total = sum(export.count(store, p) for p in parts)
        with click.progressbar(length=total, label=f"exporting {fmt}", show_pos=True,
                               file=sys.stderr) as bar:
            written = export.export(store, out, start=lo, end=hi, kinds=kinds or KIND_NAMES,
                                    fmt=fmt, tz=settings.tz, progress=bar.update, parts=parts)
    except (LogcycleError, OSError) as exc:
        _fail(f"the export stopped ({exc}); run it again to go on")
        return
    finally:
        store.close()
    rows = sum(n for _, n in written)
    click.echo(f"wrote {sum(1 for _, n in written if n)} files ({rows} rows) to {out}; "
               f"{len(parts) - len(written)} parts were done already")


@main.command("migrate")
@click.option("--from", "source", required=True, metavar="sqlite:///PATH",
              help="The SQLite store to copy (opened read-only; stop its server first).")
@click.option("--to", "target", required=True, metavar="postgresql://…",
              help="The PostgreSQL store to fill (created if needed; ?schema=NAME, default "
                   "logcycle).")
@click.option("--replace", is_flag=True,
              help="Overwrite a destination that already holds events, keys or entities "
                   "(e.g. to run a migration that stopped half-way again).")
@_options(("timezone", "retention_weeks"))
def migrate_command(source: str, target: str, replace: bool, **values: Any) -> None:
    """Copy a SQLite store into PostgreSQL, cycle by cycle, keeping ids and weeks.

    Keys keep working if the PostgreSQL nodes use the same secret: set LOGCYCLE_SECRET to
    the content of the SQLite store's DATA/secret.key.
    """
    from logcycle.clock import SystemClock
    from logcycle.store import migrate, sqlite
    from logcycle.store.postgres import PostgresStore

    settings = _settings(values)
    try:
        path = sqlite.path_of(source)
        survey = migrate.read_survey(path)
        dst = PostgresStore(target, tz=settings.tz, retention_weeks=settings.retention_weeks)
        dst.open(SystemClock().now_ms(), maintain=False)
        empty = migrate.destination_is_empty(dst)
    except (LogcycleError, ValueError, OSError, sqlite3.Error) as exc:
        _fail(f"cannot migrate: {exc}")
        return
    if not replace and not empty:
        dst.close()
        _fail(f"{dst.where} already holds events, keys or entities: use another schema "
              "(?schema=NAME) or --replace to overwrite it")
    with click.progressbar(length=survey.rows, label="copying", show_pos=True) as bar:
        def on_cycle(cycle: int, week: int) -> None:
            bar.label = f"cycle {cycle} (week {week})"

        try:
            migrate.copy_store(path, dst, survey, bar.update, on_cycle)
        except (LogcycleError, sqlite3.Error) as exc:
            _fail(f"the migration stopped ({exc}); run it again with --replace")
        finally:
            dst.close()
    click.echo(f"copied {survey.rows} rows of {len(survey.cycles)} weeks from {path} to "
               f"{dst.where}; ids continue from {survey.next_id}")
