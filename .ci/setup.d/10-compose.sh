#!/usr/bin/env bash
# docker-compose (Debian, 1.29) validates the synthesized compose projects in test/render/compose.test.ts.
set -euo pipefail
if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
# First line only, without `| head -1` (under pipefail an early-closing head means SIGPIPE, exit 141).
version=$(docker-compose version 2>&1)
echo "${version%%$'\n'*}"
