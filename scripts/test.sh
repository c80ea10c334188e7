#!/usr/bin/env bash
# Installs everything the tests need, then runs ruff, mypy and the test suite.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# dig is optional for the tests (they use it where installed); install it where we can.
if ! command -v dig >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && apt-get install -y -qq bind9-dnsutils >/dev/null || true
fi
# tmux drives the wizard in a real terminal (tests/test_tui_demo_tmux.py skips without it).
if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && apt-get install -y -qq tmux >/dev/null || true
fi

# constraints.txt pins the whole resolved dependency set, so CI runs what was tested here.
python3 -m pip install --quiet --disable-pip-version-check -c constraints.txt '.[test]'
python3 -m ruff check wizard screens tests
python3 -m mypy
python3 -m pytest "$@"
