"""``python -m logcycle`` runs the command line."""

from __future__ import annotations

from logcycle.cli import main

main()
