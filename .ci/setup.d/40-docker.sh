#!/usr/bin/env bash
# Docker engine for test/e2e/docker.test.ts: builds the generated images for real and runs a compose
# project with docker-compose (host networking, loopback only). Idempotent.
#  - installs docker.io (dockerd, client) and debootstrap from Debian;
#  - makes the stand-in base image's root filesystem once (no registry is reachable here, so the
#    python:*-slim base the Dockerfiles pin is replaced by Debian bookworm with python3 and venv, made
#    with debootstrap from the apt mirror) as a tarball in the test cache;
#  - checks that dockerd can start on this machine (started and stopped by PID here). If it cannot,
#    it records why in the cache and the docker tests report themselves skipped with that reason.
set -euo pipefail
# The tests find it through os.homedir(): $HOME, else the passwd entry.
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
CACHE=${PYFLEET_TEST_CACHE:-$home/.cache/pyfleet-test}
mkdir -p "$CACHE"
rm -f "$CACHE/dockerd-unavailable"

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The tests run their own dockerd with private directories; a packaged one is not needed.
  (systemctl disable --now docker.service docker.socket 2>/dev/null || service docker stop 2>/dev/null || true) >/dev/null 2>&1
fi

base="$CACHE/bookworm-python-rootfs.tar"
if [ ! -s "$base" ]; then
  # The mirror apt already uses (deb.debian.org unless the machine says otherwise).
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 1p)
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  if ! debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,passwd \
      bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
    echo "debootstrap failed; see $CACHE/debootstrap.log" >&2
    exit 1
  fi
  tar -C "$root" -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$root"
fi

# Can dockerd run here? Started with the options the tests use, then stopped by its PID.
probe=$(mktemp -d /tmp/pfd.XXXXXX)
sock="unix://$probe/d.sock"
dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
  --data-root "$probe/data" --exec-root "$probe/exec" --pidfile "$probe/d.pid" -H "$sock" >"$probe/log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 60); do
  if docker -H "$sock" info >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ "$ok" = 1 ]; then
  echo "dockerd $(dockerd --version | sed 's/^Docker version //'); base rootfs $(du -h "$base" | cut -f1)"
else
  { echo "dockerd did not start on this machine:"; tail -n 20 "$probe/log"; } >"$CACHE/dockerd-unavailable"
  cat "$CACHE/dockerd-unavailable" >&2
fi
rm -rf "$probe" 2>/dev/null || true
