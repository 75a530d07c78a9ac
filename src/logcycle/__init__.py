"""logcycle: a self-hosted log and event service.

The server lives in the subpackages ``ingest`` → ``store`` → ``query`` → ``api`` (→ ``web``);
``client`` is the standard-library-only Python client. See docs/architecture.md.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
