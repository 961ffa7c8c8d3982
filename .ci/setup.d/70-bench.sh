#!/usr/bin/env bash
# The benchmarks under bench/ (bench:gunicorn, bench:metrics) load the generated apps with Debian's wrk,
# pinned with taskset (util-linux). Not needed by npm test. Idempotent.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
command -v taskset >/dev/null
wrk --version 2>&1 | head -c 40 || true
echo
