#!/usr/bin/env bash
# Mesh tests run the compose gateway's generated config with Debian's HAProxy (2.6, the branch of the
# gateway image). Idempotent.
set -euo pipefail
# openssl makes the self-signed certificate of the TLS public-entry test.
if ! command -v haproxy >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy openssl >/dev/null
  # The test runs its own haproxy processes; the packaged service is not needed.
  (systemctl disable --now haproxy 2>/dev/null || service haproxy stop 2>/dev/null || true) >/dev/null
fi
# Print only the first line without a pipe: under pipefail, `| head -1` closing early makes the
# writer die of SIGPIPE (exit 141) whenever it has more to say.
version=$(haproxy -v 2>&1)
echo "${version%%$'\n'*}"
