#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs the project with its test extras, runs
# ruff, mypy and pytest. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check asl tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
