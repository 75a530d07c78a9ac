"""``python -m logcycle`` runs the command line."""

from __future__ import annotations

from logcycle.cli import main

# Guarded: the protocol workers (ingest/offload.py) import this module as __mp_main__.
if __name__ == "__main__":
    main()
