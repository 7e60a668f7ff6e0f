#!/usr/bin/env bash
# Sets up everything the test suite needs, then runs it (lint + types + pytest).
# Real parts: Synapse (pip, test extra), Chromium (Debian package) for the dashboard tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# Chromium for the dashboard tests; poppler-utils (pdftoppm, pdftotext) to render and read
# the PDF reports in the tests
if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-dejavu-core poppler-utils >/dev/null
  else
    echo "De tests hebben Chromium en poppler-utils nodig: sudo apt-get install chromium poppler-utils" >&2
    exit 1
  fi
fi

.venv/bin/ruff check bot tests bench
.venv/bin/python -m mypy  # bot/, as configured in pyproject.toml
# pytest exits 5 when it collected no tests: with set -e that fails the run, as it should.
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
