"""Installing a Debian package the tests need (PostgreSQL, Chromium), as root, quietly unless it fails."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys


def can_install() -> bool:
    """Whether this process can install packages: root, with apt-get."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _run_quietly(cmd: list[str], tag: str) -> bool:
    """Run cmd, showing its output only when it fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{tag}: {shlex.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}", file=sys.stderr)
    return r.returncode == 0


def apt_install(package: str, tag: str) -> bool:
    """``apt-get update`` and install ``package`` (no recommends); False, with apt's output shown, on failure."""
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # wait for a parallel apt-get (the other package's install) to finish
    return (_run_quietly(["apt-get", *lock, "-q", "update"], tag)
            and _run_quietly(["apt-get", *lock, "-q", "install", "-y", "--no-install-recommends", package], tag))
