#!/usr/bin/env bash
# The topology pictures are drawn for real in test/render/topology.test.ts: Graphviz's dot renders the
# DOT form, Debian's headless Chromium runs Mermaid's own browser bundle (from npm, no browser download)
# on the Mermaid form. Idempotent.
set -euo pipefail
if ! command -v dot >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz chromium fonts-dejavu-core >/dev/null
fi
dot -V 2>&1
# First line only, without `| head -1` (under pipefail an early-closing head means SIGPIPE, exit 141).
version=$(chromium --version 2>/dev/null)
echo "${version%%$'\n'*}"
