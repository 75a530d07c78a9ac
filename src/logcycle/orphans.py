"""No orphans: a child process of the server (a ``--workers`` server process, a protocol
worker) ends when the process that started it dies, even by kill -9.

    die_with_parent(os.getppid())   # first thing in the child
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent(parent: int) -> None:
    """On Linux this process gets SIGTERM when its parent dies (elsewhere: nothing). Given
    ``parent`` (its pid, 0: unknown), a parent that died before the call counts too."""
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
