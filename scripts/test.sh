#!/usr/bin/env bash
# Sets up everything the test suite needs, then runs it (lint + types + pytest).
# Real parts: Synapse (pip, test extra), Chromium (Debian package) for the dashboard tests.
#
#   bash scripts/test.sh              the whole suite
#   bash scripts/test.sh --fast       everything but the end-to-end tests (marker e2e: real
#                                     `teamspiegel run`/`chat` processes, Synapse, Chromium)
#   bash scripts/test.sh -k flows     any other argument goes to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

FAST=0
ARGS=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then FAST=1; else ARGS+=("$arg"); fi
done

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# Debian packages: poppler-utils (pdftoppm, pdftotext) to render and read the PDF reports;
# Chromium for the dashboard tests (end-to-end, so not for --fast)
NEED=()
command -v pdftoppm >/dev/null 2>&1 || NEED+=(poppler-utils)
if [ "$FAST" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  NEED+=(chromium fonts-dejavu-core)
fi
if [ ${#NEED[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${NEED[@]}" >/dev/null
  else
    echo "De tests hebben nodig: sudo apt-get install --no-install-recommends ${NEED[*]}" >&2
    exit 1
  fi
fi

.venv/bin/ruff check bot tests bench
.venv/bin/python -m mypy  # bot/, as configured in pyproject.toml
if [ "$FAST" = 1 ]; then
  ARGS=(-m "not e2e" ${ARGS[@]+"${ARGS[@]}"})
fi
# pytest exits 5 when it collected no tests: with set -e that fails the run, as it should.
exec .venv/bin/python -m pytest -q -p no:cacheprovider ${ARGS[@]+"${ARGS[@]}"}
