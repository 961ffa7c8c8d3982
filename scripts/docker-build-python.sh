#!/usr/bin/env bash
# Manual check (not part of npm test): a real `docker build` of a generated build context, then a run
# as the generated image would be run (read-only root, no capabilities), on loopback only.
# Needs root, docker.io (dockerd + docker client) and debootstrap; makes a stand-in base image with
# debootstrap + docker import (no registry is reachable), serves pip's local index over 127.0.0.1 to the
# builder stage as the PIP_INDEX_URL build argument, and stops everything it started, by PID.
# Usage: bash scripts/docker-build-python.sh   (from the repository root; ~3 minutes the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${PYFLEET_DOCKER_WORK:-/tmp/pyfleet-docker}
INDEX_DIR=${PYFLEET_INDEX_DIR:-/opt/pypi}   # a PEP 503 tree (pip config list shows the local one)
BASE=python:3.12.8-slim-bookworm           # the tag the generated Dockerfile pins
mkdir -p "$WORK/data" "$WORK/exec"
export DOCKER_HOST="unix://$WORK/docker.sock"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  dockerd --iptables=false --bridge=none --storage-driver=overlay2 --data-root "$WORK/data" --exec-root "$WORK/exec" \
    -H "$DOCKER_HOST" --pidfile "$WORK/docker.pid" >"$WORK/dockerd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  # A stand-in for the official image: Debian bookworm with python (3.11), venv, useradd.
  [ -d "$WORK/rootfs/usr/bin" ] || debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,passwd bookworm "$WORK/rootfs" http://deb.debian.org/debian
  tar -C "$WORK/rootfs" -c . | docker import - "$BASE"
fi

rm -rf "$WORK/out"
npx ts-node --project examples/tsconfig.json -e "
  const { App } = require('./lib'); const { buildShop } = require('./examples/shop/main');
  const app = new App({ outdir: '$WORK/out' }); buildShop(app); app.synth();"
contexts=("$WORK"/out/assets/context.*)
ctx=${contexts[0]}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$INDEX_DIR" && exec python3 -m http.server "$port" --bind 127.0.0.1) >"$WORK/index.log" 2>&1 &
pids+=($!)
sleep 1
DOCKER_BUILDKIT=0 docker build --network host --build-arg PIP_INDEX_URL="http://127.0.0.1:$port/simple" -t pyfleet-check/app:1 "$ctx"
if docker history --no-trunc pyfleet-check/app:1 | grep -q "127.0.0.1:$port"; then echo "FAIL: the index URL is in the final image's history"; exit 1; fi

app_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cid=$(docker run -d --network host --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges:true --cpus 0.5 \
  -e GUNICORN_CMD_ARGS="--bind=127.0.0.1:$app_port" pyfleet-check/app:1)
ok=0
for _ in $(seq 1 30); do curl -fsS "http://127.0.0.1:$app_port/healthz" >/dev/null 2>&1 && { ok=1; break; }; sleep 1; done
docker logs "$cid" 2>&1 | grep 'pyfleet:' || true
docker exec "$cid" python -c 'import os; print("pid", os.getpid(), "uid", os.getuid())' || true
start=$(date +%s)
docker stop -t 40 "$cid" >/dev/null
echo "stopped in $(( $(date +%s) - start )) s, exit code $(docker inspect "$cid" --format '{{.State.ExitCode}}')"
docker rm "$cid" >/dev/null
[ "$ok" = 1 ] && echo "OK: built and served /healthz from a read-only, unprivileged container" || { echo "FAIL: /healthz did not answer"; exit 1; }
