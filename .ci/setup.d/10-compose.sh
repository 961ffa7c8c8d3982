#!/usr/bin/env bash
# docker-compose (Debian, 1.29) validates the synthesized compose projects in test/render/compose.test.ts.
set -euo pipefail
if ! command -v docker-compose >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
docker-compose version | head -1
