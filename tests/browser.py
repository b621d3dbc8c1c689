"""A headless Chromium for the console's tests, driven by Playwright (the pip package, which brings its own driver;
no browser is downloaded: it drives Debian's ``chromium`` through ``executable_path``).

``ensure_installed()`` installs Debian's package with apt-get when we are root and it is missing, as on a clean CI
machine; ``required()`` says whether a missing Chromium is an error rather than a reason to skip (in CI, or with
``ASL_REQUIRE_CHROMIUM=1``), as ``tests/pgcluster.py`` does for PostgreSQL.

    python -m tests.browser --ensure-installed   # only install Chromium if needed (scripts/test.sh)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from .debian import apt_install, can_install

# Debian's /usr/bin/chromium is a shell wrapper that sets flags and runs /usr/lib/chromium/chromium
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")


def required() -> bool:
    """Whether a missing Chromium is an error rather than a reason to skip: in CI, or when asked."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("ASL_REQUIRE_CHROMIUM") == "1"


def find_chromium() -> str | None:
    """The Chromium executable: ``ASL_CHROMIUM`` if set, Debian's, or one on PATH."""
    given = os.environ.get("ASL_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure_installed() -> str | None:
    """find_chromium(), after installing Debian's chromium package if it is missing and we can (root, apt-get).

    None when Chromium is not there and cannot be installed.
    """
    found = find_chromium()
    if found is not None or not can_install() or not apt_install("chromium", "browser"):
        return found
    return find_chromium()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ensure-installed", action="store_true", help="install Chromium if missing, print its path")
    args = parser.parse_args()
    found = ensure_installed() if args.ensure_installed else find_chromium()
    if found is None:
        print("browser: no Chromium found (install Debian's chromium package)", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
