#!/usr/bin/env bash
# Python for the real gunicorn runs (test/e2e/gunicorn.test.ts, test/python/gunicorn-conf.test.ts).
# The tests make their virtualenv themselves (node_modules/.cache/pyfleet-venv, from pip's configured
# local index: flask, gunicorn, fastapi, uvicorn, httpx); this script only makes sure python3 with the
# venv module and pip is there, and that the index answers. Idempotent.
set -euo pipefail

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
command -v taskset >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq util-linux >/dev/null; }

# Fail here, with a clear message, rather than in the middle of the tests.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! python3 -m pip download --quiet --disable-pip-version-check --retries 0 --no-deps -d "$tmp" gunicorn >/dev/null 2>&1; then
  echo "pip cannot download gunicorn from its configured index (pip config list); the gunicorn tests need it" >&2
  exit 1
fi
echo "python3 $(python3 -c 'import sys; print(sys.version.split()[0])') with venv; pip index answers"
