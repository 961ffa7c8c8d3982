#!/usr/bin/env bash
# pyfleet/pulumi tests: the Pulumi packages come from npm (no CLI, no plugin: tests use mocks).
# The examples/vps services are run for real under gunicorn: a virtualenv with Flask and gunicorn
# from pip's configured (local) index. Idempotent.
set -euo pipefail
VENV=/opt/pyfleet/venv-pulumi
if "$VENV/bin/python" -c 'import flask, gunicorn' 2>/dev/null; then
  echo "pulumi setup: $VENV ready"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -qq
  apt-get install -y -qq python3-venv
fi
mkdir -p /opt/pyfleet
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --retries 0 --timeout 5 'flask==3.1.*' 'gunicorn==26.2.*'
"$VENV/bin/python" -c 'import flask, gunicorn; print("pulumi setup: flask and gunicorn installed")'
