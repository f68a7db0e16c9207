#!/usr/bin/env bash
# A Docker engine for `sam local` (make sam-local-test), on a machine with no
# engine running and no registry access.
#
#   localstack/docker.sh with CMD...  engine up and the base image present, run CMD
#                                    with DOCKER_HOST set; stop the engine after if this
#                                    call started it (also when CMD fails)
#   localstack/docker.sh up           start the engine (or use one that already answers)
#   localstack/docker.sh down         stop the engine named by the PID file
#   localstack/docker.sh base-image   build the Lambda base image when the engine lacks it
#   localstack/docker.sh gateway      the bridge address containers reach this machine at
#
# An engine that already answers (DOCKER_HOST, or /var/run/docker.sock) is used
# as it is. Otherwise dockerd (Debian's docker.io, installed when missing) runs
# in the background with its socket, data, log and PID file in $DOCKER_HOME
# (default: .docker/ at the project root, git-ignored), so its images are kept
# between runs. Recipe and measurements: docs/sam-local.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER_HOME="${DOCKER_HOME:-$ROOT/.docker}"
SOCKET="$DOCKER_HOME/docker.sock"
PIDFILE="$DOCKER_HOME/dockerd.pid"
LOG="$DOCKER_HOME/dockerd.log"
START_TIMEOUT="${DOCKER_START_TIMEOUT:-60}"
# The tag `sam local` looks for (provided.al2023, x86_64); built here from a
# Debian rootfs since the registry is out of reach. Debian userland stands in
# for Amazon Linux 2023: the Rust bootstraps need only glibc.
BASE_IMAGE="public.ecr.aws/lambda/provided:al2023-x86_64"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf 'docker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

answers() { DOCKER_HOST="$1" docker info >/dev/null 2>&1; }

# The engine to use: an explicit DOCKER_HOST, the system's, or ours.
engine() {
  if [ -n "${DOCKER_HOST:-}" ]; then echo "$DOCKER_HOST"
  elif answers unix:///var/run/docker.sock; then echo unix:///var/run/docker.sock
  else echo "unix://$SOCKET"; fi
}

install() {
  command -v dockerd >/dev/null && command -v debootstrap >/dev/null && return 0
  log "installing docker.io and debootstrap (apt)"
  apt-get install -y -q docker.io debootstrap >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q docker.io debootstrap >/dev/null; }
  # Debian's package tries to start the service; without an init system it cannot.
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  # The PID is ours only while it still runs dockerd (PIDs get reused).
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "dockerd.*$SOCKET" && echo "$pid"
}

cmd_up() {
  local host; host="$(engine)"
  if [ "$host" != "unix://$SOCKET" ]; then log "using the engine at $host"; return 0; fi
  if running_pid >/dev/null && answers "$host"; then log "already running (pid $(cat "$PIDFILE"))"; return 0; fi
  install
  mkdir -p "$DOCKER_HOME/data" "$DOCKER_HOME/exec"
  log "starting dockerd (log: $LOG)"
  # Defaults otherwise: overlay2 and the docker0 bridge (SAM needs the bridge).
  nohup dockerd --host "unix://$SOCKET" --data-root "$DOCKER_HOME/data" \
    --exec-root "$DOCKER_HOME/exec" --pidfile "$DOCKER_HOME/exec/dockerd.pid" \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local waited=0
  until answers "$host"; do
    running_pid >/dev/null || { tail -n 20 "$LOG" >&2; die "dockerd exited during start; full log: $LOG"; }
    [ "$waited" -lt $((START_TIMEOUT * 10)) ] || { tail -n 20 "$LOG" >&2; die "dockerd not answering after ${START_TIMEOUT}s"; }
    sleep 0.1; waited=$((waited + 1))
  done
  log "dockerd answers after $((waited / 10)).$((waited % 10))s (pid $(cat "$PIDFILE"))"
}

cmd_down() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDFILE"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$PIDFILE"
  # dockerd unmounts its layers on a clean stop; after a SIGKILL, this does.
  unmount_under "$DOCKER_HOME"
  # The bridge it made outlives it; the next start makes it again.
  ip link delete docker0 2>/dev/null || true
  log "stopped (pid $pid)"
}

unmount_under() {
  local mounts
  mounts="$(awk -v dir="$1" 'index($2, dir) == 1 { print $2 }' /proc/self/mounts | sort -r)"
  [ -z "$mounts" ] || { log "unmounting what is left under $1"; xargs -r -n1 umount -l <<<"$mounts"; }
}

cmd_base_image() {
  export DOCKER_HOST; DOCKER_HOST="$(engine)"
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then log "base image $BASE_IMAGE present"; return 0; fi
  install
  local rootfs="$DOCKER_HOME/rootfs" started=$SECONDS
  rm -rf "$rootfs"
  log "building $BASE_IMAGE from a Debian bookworm rootfs (debootstrap, ~1 min)"
  # minbase has /bin/sh, which SAM's generated image runs its entrypoint with.
  if ! debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$DEBIAN_MIRROR" \
    >"$DOCKER_HOME/debootstrap.log" 2>&1; then
    tail -n 20 "$DOCKER_HOME/debootstrap.log" >&2
    unmount_under "$rootfs"; rm -rf "$rootfs"
    die "debootstrap failed; full log: $DOCKER_HOME/debootstrap.log"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  log "built $BASE_IMAGE in $((SECONDS - started))s"
}

cmd_gateway() {
  export DOCKER_HOST; DOCKER_HOST="$(engine)"
  local gateway bridge
  gateway="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')"
  if [ -z "$gateway" ]; then
    # The default bridge often leaves Gateway empty: its interface's address is it.
    bridge="$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}')"
    gateway="$(ip -4 -o addr show "${bridge:-docker0}" | awk '{ split($4, a, "/"); print a[1]; exit }')"
  fi
  [ -n "$gateway" ] || die "no address for the bridge network"
  echo "$gateway"
}

cmd_with() {
  [ $# -gt 0 ] || die "usage: docker.sh with CMD..."
  local started=0
  if [ "$(engine)" = "unix://$SOCKET" ] && ! running_pid >/dev/null; then started=1; fi
  [ "$started" = 1 ] && trap 'cmd_down' EXIT
  cmd_up
  cmd_base_image
  local rc=0
  DOCKER_HOST="$(engine)" "$@" || rc=$?
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  base-image) cmd_base_image ;;
  gateway) cmd_gateway ;;
  with) shift; cmd_with "$@" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
