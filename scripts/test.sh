#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it:
# lint, types, and the tests. Used by CI (.ci/run) exactly as the README gives it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
command -v testssl >/dev/null || need_apt+=(testssl.sh)
# The ACME tests run against a real Pebble (and its mock DNS) on loopback.
command -v pebble >/dev/null || need_apt+=(pebble)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# The store tests run on a throwaway PostgreSQL cluster as well as SQLite.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
# The browser tests drive Debian's Chromium through Playwright (no download).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff format --check src tests bench
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 --dist loadfile -q "$@"
