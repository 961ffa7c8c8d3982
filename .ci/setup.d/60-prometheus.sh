#!/usr/bin/env bash
# Debian's Prometheus scrapes the real generated app under gunicorn in test/e2e/metrics.test.ts (with a
# scrape configuration made from the model, pointed at loopback). The test starts its own server by
# PID; the packaged service is not needed and is stopped if the package started it. Idempotent.
set -euo pipefail
if ! command -v prometheus >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package may start its own server on :9090; the tests do not use it.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi
# First line only, without `| head -1` (under pipefail an early-closing head means SIGPIPE, exit 141).
version=$(prometheus --version 2>&1)
echo "${version%%$'\n'*}"
