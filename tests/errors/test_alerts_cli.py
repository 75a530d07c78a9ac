"""`logcycle alerts list|add|remove` on a SQLite store, as a user runs them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logcycle.cli import main

RULE = '{"name": "new bugs", "condition": {"type": "new_error_group"}}'


def test_add_list_remove(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    run = CliRunner().invoke
    added = run(main, ["alerts", "add", RULE, *data])
    assert added.exit_code == 0 and "added alert 1 (new bugs)" in added.output, added.output
    assert run(main, ["alerts", "add", RULE, *data]).exit_code != 0  # name taken
    bad = run(main, ["alerts", "add", '{"name": "x"}', *data])
    assert bad.exit_code != 0 and "condition" in bad.output
    listed = run(main, ["alerts", "list", *data]).output
    assert "new bugs" in listed and " ok " in listed
    assert run(main, ["alerts", "remove", "1", *data]).exit_code == 0
    assert run(main, ["alerts", "remove", "1", *data]).exit_code != 0
    assert "new bugs" not in run(main, ["alerts", "list", *data]).output
