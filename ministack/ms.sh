#!/usr/bin/env bash
# MiniStack (PyPI `ministack`, MIT) on loopback with IAM enforced: the engine
# that runs the real `sam deploy` of template.yaml and the functions' own
# bootstraps as processes (no Docker). docs/ministack.md says what it
# emulates, what it gets wrong and what ministack/shopsphere_ministack fixes.
#
#   ministack/ms.sh install      create .ministack/venv once (pinned, reused after)
#   ministack/ms.sh up           start in the background (fixes applied), wait until healthy
#   ministack/ms.sh down         stop it and every process it spawned, by PID
#   ministack/ms.sh with CMD...  run CMD with a fresh MiniStack up; stop it after
#   ministack/ms.sh selftest     the fixes' own tests, in the venv
#
# Everything (venv, temp files, log, PID file) lives in $MS_HOME (default:
# .ministack/ at the project root), which git ignores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MS_HOME="${MS_HOME:-$ROOT/.ministack}"
VENV="$MS_HOME/venv"
LOG="$MS_HOME/ministack.log"
PIDFILE="$MS_HOME/ministack.pid"
PORT="${MS_PORT:-4567}"
ENDPOINT="http://127.0.0.1:$PORT"

log() { printf 'ministack: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

python313() {
  local p
  for p in "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13" "$HOME/.pyenv/versions/3.13.0/bin/python3.13"; do
    [ -x "$p" ] && { echo "$p"; return; }
  done
  die "Python 3.13 not found (expected pyenv's 3.13.0)"
}

# Its own venv: aws-sam-translator (MiniStack's SAM transform) pins another
# botocore than the SAM CLI in .tools/venv.
cmd_install() {
  local key; key="$(sha256sum "$ROOT/ministack/constraints.txt" | cut -c1-16)"
  [ -f "$VENV/.installed-$key" ] && return 0
  log "installing MiniStack into $VENV (pinned by ministack/constraints.txt)"
  rm -rf "$VENV"
  mkdir -p "$MS_HOME"
  "$(python313)" -m venv "$VENV"
  PIP_CACHE_DIR="$MS_HOME/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/pip" install --quiet -c "$ROOT/ministack/constraints.txt" ministack aws-sam-translator cryptography
  touch "$VENV/.installed-$key"
  log "installed"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  # The PID is ours only while it still runs MiniStack (PIDs get reused).
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'shopsphere_ministack' && echo "$pid"
}

healthy() { curl -sf --max-time 2 -o /dev/null "$ENDPOINT/_ministack/health"; }

cmd_up() {
  cmd_install
  if running_pid >/dev/null; then log "already running (pid $(cat "$PIDFILE"))"; return 0; fi
  healthy && die "something else answers on port $PORT; stop it or set MS_PORT"
  mkdir -p "$MS_HOME/tmp"
  log "starting on 127.0.0.1:$PORT, AUTH=true (log: $LOG)"
  # AWS_ENDPOINT_URL in its own environment: MiniStack passes it to the
  # functions it runs, as Lambda's environment points the SDK at AWS.
  # setsid: its function processes share its process group, stopped with it.
  setsid env TMPDIR="$MS_HOME/tmp" GATEWAY_PORT="$PORT" BIND_HOST=127.0.0.1 AUTH=true \
    LAMBDA_EXECUTOR=local AWS_ENDPOINT_URL="$ENDPOINT" MINISTACK_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test PYTHONPATH="$ROOT/ministack" \
    "$VENV/bin/python" -m shopsphere_ministack >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local waited=0
  until healthy; do
    running_pid >/dev/null || { tail -n 30 "$LOG" >&2; die "MiniStack exited during start; full log: $LOG"; }
    [ "$waited" -lt 600 ] || { tail -n 30 "$LOG" >&2; die "not healthy after 60 s; full log: $LOG"; }
    sleep 0.1; waited=$((waited + 1))
  done
  log "healthy after $((waited / 10)).$((waited % 10))s (pid $(cat "$PIDFILE"))"
}

# Function processes outlive `sam delete` and are MiniStack's children: the
# whole process group goes (it was started with setsid, so the group id is its PID).
cmd_down() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDFILE"; log "not running"; return 0; fi
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  log "stopped (process group $pid)"
}

cmd_with() {
  [ $# -gt 0 ] || die "usage: ms.sh with CMD..."
  cmd_down
  cmd_up
  local rc=0
  trap 'cmd_down' EXIT
  "$@" || rc=$?
  return "$rc"
}

cmd_selftest() {
  cmd_install
  PYTHONPATH="$ROOT/ministack" PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m unittest discover -s "$ROOT/ministack/tests"
}

case "${1:-}" in
  install) cmd_install ;;
  selftest) cmd_selftest ;;
  up) cmd_up ;;
  down) cmd_down ;;
  with) shift; cmd_with "$@" ;;
  endpoint) echo "$ENDPOINT" ;;
  *) sed -n '2,14p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
