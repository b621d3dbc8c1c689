#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs the project with its test extras, runs
# ruff, mypy and pytest, with PostgreSQL installed for the store's tests. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# A real PostgreSQL server for the store's tests: install Debian's package if it is missing (as root), and
# make its absence an error rather than a skip, so those tests cannot silently stop running (a developer
# without PostgreSQL who cannot install it may set ASL_REQUIRE_POSTGRES=0 to have them skipped).
export ASL_REQUIRE_POSTGRES="${ASL_REQUIRE_POSTGRES:-1}"
.venv/bin/python -m tests.pgcluster --ensure-installed >/dev/null || [ "$ASL_REQUIRE_POSTGRES" = 0 ]
# Debian's Chromium for the web console's browser tests (Playwright drives it; nothing is downloaded), the same
# way: installed if missing, and its absence an error unless ASL_REQUIRE_CHROMIUM=0.
export ASL_REQUIRE_CHROMIUM="${ASL_REQUIRE_CHROMIUM:-1}"
.venv/bin/python -m tests.browser --ensure-installed >/dev/null || [ "$ASL_REQUIRE_CHROMIUM" = 0 ]
.venv/bin/ruff check asl tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
