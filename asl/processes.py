"""Operating-system processes, as more than one stage sees them (a leaf module: it imports nothing of asl)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_running(pid: int) -> bool:
    """Whether a process with this id exists and has not ended: a zombie (ended, not yet reaped by its parent)
    counts as ended. Linux reads its state from /proc; elsewhere a zombie still counts as running."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return pid_alive(pid)
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")
