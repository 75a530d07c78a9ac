"""The public surface: what is exported, and that the client needs only the stdlib."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import logcycle.client as client

PACKAGE = Path(client.__file__).parent


def test_all_is_exported_and_documented() -> None:
    for name in client.__all__:
        assert getattr(client, name) is not None
        if not name.isupper():
            assert getattr(client, name).__doc__, name
    assert {"Logger", "LogcycleHandler", "ClientStats", "request_context",
            "set_request_key", "current_request_key"} <= set(client.__all__)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_every_import_in_the_package_is_stdlib() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_importing_the_client_loads_no_third_party_module() -> None:
    code = ("import sys, json, logcycle.client; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True,
                         check=True).stdout
    loaded = set(json.loads(out))
    foreign = {m for m in loaded - set(sys.stdlib_module_names)
               if m not in ("logcycle", "__main__") and not m.startswith("_")}
    assert foreign == set()
    server_parts = subprocess.run(
        [sys.executable, "-c", "import sys, logcycle.client; "
         "print(sorted(m for m in sys.modules if m.startswith('logcycle.')"
         " and not m.startswith('logcycle.client')))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert server_parts == "[]"


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) < 600, path.name
