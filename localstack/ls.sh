#!/usr/bin/env bash
# LocalStack in host mode (no Docker): install, start, stop, reset.
#
#   localstack/ls.sh install      create .localstack/venv once (pinned, reused after)
#   localstack/ls.sh up           start in the background, wait until healthy
#   localstack/ls.sh down         stop the process named by the PID file
#   localstack/ls.sh reset        wipe emulator state (keeps the service-catalog cache)
#   localstack/ls.sh status       exit 0 when the gateway answers healthy
#   localstack/ls.sh with CMD...  run CMD with LocalStack up; stop it after if this call started it
#   localstack/ls.sh confinement  fail if LocalStack wrote outside the project since `up`
#   localstack/ls.sh selftest     the provider plugin's own tests, in the venv (installs first)
#
# Everything (venv, state, log, PID file) lives in $LS_HOME (default: .localstack/
# at the project root), which git ignores. Recipe and measurements: docs/localstack.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_HOME="${LS_HOME:-$ROOT/.localstack}"
VENV="$LS_HOME/venv"
STATE="$LS_HOME/state"
LOG="$LS_HOME/localstack.log"
PIDFILE="$LS_HOME/localstack.pid"
STARTED_MARK="$LS_HOME/started.mark"
LISTEN="${LS_GATEWAY_LISTEN:-127.0.0.1:4566}"
PORT="${LISTEN##*:}"
HEALTH_URL="http://127.0.0.1:$PORT/_localstack/health"
HEALTH_TIMEOUT="${LS_HEALTH_TIMEOUT:-90}"
REQUIRED_SERVICES=(sqs sns dynamodb dynamodbstreams cloudformation iam sts logs cloudwatch s3)
# Paths LocalStack writes to when it is not confined (see docs/localstack.md).
OUTSIDE_PATHS=(/var/lib/localstack /tmp/localstack /tmp/localstack-s3-storage "$HOME/.cache/plux" /etc/localstack)

log() { printf 'localstack: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

python313() {
  local candidates=()
  command -v pyenv >/dev/null 2>&1 && candidates+=("$(pyenv root)/versions/3.13.0/bin/python3.13")
  candidates+=("$HOME/.pyenv/versions/3.13.0/bin/python3.13" "$(command -v python3.13 || true)")
  for p in "${candidates[@]}"; do [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return; }; done
  die "Python 3.13 not found (expected pyenv's 3.13.0: 'pyenv install 3.13.0')"
}

# The install is keyed by the hash of everything that defines it: a changed pin
# or provider rebuilds the venv, an unchanged one is reused without any download.
install_key() {
  cat "$ROOT/localstack/constraints.txt" "$ROOT/localstack/providers/pyproject.toml" \
    "$ROOT/localstack/providers/shopsphere_ls_providers/__init__.py" | sha256sum | cut -c1-16
}

cmd_install() {
  local key; key="$(install_key)"
  if [ -f "$VENV/.installed-$key" ]; then return 0; fi
  log "installing LocalStack into $VENV (pinned by localstack/constraints.txt; ~3 min the first time)"
  rm -rf "$VENV"
  mkdir -p "$LS_HOME"
  "$(python313)" -m venv "$VENV"
  export PIP_CACHE_DIR="$LS_HOME/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1
  "$VENV/bin/pip" install --quiet -c "$ROOT/localstack/constraints.txt" \
    'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==25.3.0' \
    'cryptography>=45.0.7,<47' service_identity awscli-local boto3 setuptools
  # Build the provider plugin offline from the venv's own setuptools; copy the
  # source first so no build artefacts land in the work tree.
  local build; build="$(mktemp -d "$LS_HOME/providers-build.XXXXXX")"
  cp -r "$ROOT/localstack/providers/." "$build/"
  "$VENV/bin/pip" install --quiet --no-build-isolation --no-deps "$build"
  rm -rf "$build"
  "$VENV/bin/python" - <<'PY' || die "provider plugin not registered"
import importlib.metadata as m
names = set(m.entry_points(group="localstack.aws.provider").names)
missing = {"dynamodb:moto", "dynamodbstreams:moto", "s3:hostdir", "cloudformation:serialized_sam"} - names
raise SystemExit(f"missing providers: {missing}" if missing else 0)
PY
  touch "$VENV/.installed-$key"
  log "installed"
}

healthy() {
  local body
  body="$(curl -sf --max-time 2 "$HEALTH_URL" 2>/dev/null)" || return 1
  "$VENV/bin/python" -c '
import json, sys
services = json.loads(sys.argv[1]).get("services", {})
missing = [s for s in sys.argv[2:] if services.get(s) not in ("available", "running")]
sys.exit(1 if missing else 0)' "$body" "${REQUIRED_SERVICES[@]}"
}

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  # The PID is ours only while it still runs LocalStack (PIDs get reused).
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'localstack.runtime.main'; then
    echo "$pid"
  else
    return 1
  fi
}

cmd_up() {
  cmd_install
  if running_pid >/dev/null; then
    healthy && { log "already running (pid $(cat "$PIDFILE"))"; return 0; }
  elif curl -sf --max-time 2 -o /dev/null "$HEALTH_URL"; then
    die "something else answers on port $PORT; stop it or set LS_GATEWAY_LISTEN"
  else
    mkdir -p "$STATE/tmp" "$STATE/cache" "$STATE/fs"
    touch "$STARTED_MARK"
    log "starting on $LISTEN (log: $LOG)"
    # OVERRIDE_IN_DOCKER=0: this machine has /.dockerenv; without it LocalStack
    # writes to /var/lib/localstack. TMP (TMPDIR unset) and XDG_CACHE_HOME keep
    # temp files and the plugin cache in the state folder.
    nohup env -u TMPDIR \
      OVERRIDE_IN_DOCKER=0 GATEWAY_LISTEN="$LISTEN" LOCALSTACK_HOST="localhost:$PORT" \
      SQS_ENDPOINT_STRATEGY=path SKIP_SSL_CERT_DOWNLOAD=1 DNS_ADDRESS=0 DISABLE_EVENTS=1 \
      SQS_DISABLE_CLOUDWATCH_METRICS=1 PROVIDER_OVERRIDE_DYNAMODB=moto \
      PROVIDER_OVERRIDE_DYNAMODBSTREAMS=moto PROVIDER_OVERRIDE_S3=hostdir \
      PROVIDER_OVERRIDE_CLOUDFORMATION=serialized_sam \
      FILESYSTEM_ROOT="$STATE/fs" TMP="$STATE/tmp" XDG_CACHE_HOME="$STATE/cache" \
      "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  local waited=0
  until healthy; do
    running_pid >/dev/null || { tail -n 30 "$LOG" >&2; die "LocalStack exited during start; full log: $LOG"; }
    if [ "$waited" -ge $((HEALTH_TIMEOUT * 10)) ]; then
      tail -n 30 "$LOG" >&2
      die "not healthy after ${HEALTH_TIMEOUT}s (needs: ${REQUIRED_SERVICES[*]}); full log: $LOG"
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  log "healthy after $((waited / 10)).$((waited % 10))s (pid $(cat "$PIDFILE"))"
  warm_up
}

# Services load lazily on their first request (seconds each); pay that once
# here rather than inside the first tests' timeouts.
warm_up() {
  local started=$SECONDS
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    "$VENV/bin/python" - "http://127.0.0.1:$PORT" <<'PY' || die "warm-up requests failed; see $LOG"
import sys, boto3
url = sys.argv[1]
for service, call in [("sqs", "list_queues"), ("sns", "list_topics"), ("dynamodb", "list_tables"),
                      ("dynamodbstreams", "list_streams"), ("cloudformation", "list_stacks"),
                      ("sts", "get_caller_identity"), ("iam", "list_roles"), ("logs", "describe_log_groups"),
                      ("cloudwatch", "describe_alarms"), ("s3", "list_buckets")]:
    getattr(boto3.client(service, endpoint_url=url), call)()
PY
  log "services warmed up in $((SECONDS - started))s"
}

cmd_down() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDFILE"; log "not running"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "pid $pid ignored SIGTERM for 15 s; sending SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

cmd_reset() {
  local was_running=0
  running_pid >/dev/null && was_running=1
  [ "$was_running" = 1 ] && cmd_down
  # Keep the service-catalog cache: rebuilding it costs ~350 MB RSS on first use.
  local cache="$STATE/fs/var/lib/localstack/cache"
  if [ -d "$STATE" ]; then
    find "$STATE" -mindepth 1 -maxdepth 1 ! -name fs -exec rm -rf {} +
    if [ -d "$STATE/fs" ]; then
      find "$STATE/fs" -mindepth 1 -depth ! -path "$cache" ! -path "$cache/*" \
        ! -path "$STATE/fs/var" ! -path "$STATE/fs/var/lib" ! -path "$STATE/fs/var/lib/localstack" \
        -exec rm -rf {} + 2>/dev/null || true
    fi
  fi
  log "state wiped"
  [ "$was_running" = 1 ] && cmd_up
  return 0
}

cmd_with() {
  [ $# -gt 0 ] || die "usage: ls.sh with CMD..."
  if running_pid >/dev/null && healthy; then
    "$@"
    return
  fi
  # Each suite run starts from empty emulator state.
  cmd_reset
  cmd_up
  local rc=0
  trap 'cmd_down' EXIT
  "$@" || rc=$?
  return "$rc"
}

cmd_confinement() {
  [ -f "$STARTED_MARK" ] || die "no start mark: run 'ls.sh up' first"
  local bad=()
  for p in "${OUTSIDE_PATHS[@]}"; do
    [ -e "$p" ] || continue
    if [ -n "$(find "$p" -newer "$STARTED_MARK" -print -quit 2>/dev/null)" ]; then bad+=("$p"); fi
  done
  [ ${#bad[@]} -eq 0 ] || die "LocalStack wrote outside $LS_HOME: ${bad[*]}"
  log "nothing written outside $LS_HOME (checked: ${OUTSIDE_PATHS[*]})"
}

# The plugin's patches of LocalStack, each shown failing as shipped and passing patched.
cmd_selftest() {
  cmd_install
  PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m unittest discover -s "$ROOT/localstack/providers/tests"
}

case "${1:-}" in
  install) cmd_install ;;
  selftest) cmd_selftest ;;
  up) cmd_up ;;
  down) cmd_down ;;
  reset) cmd_reset ;;
  status) healthy ;;
  with) shift; cmd_with "$@" ;;
  confinement) cmd_confinement ;;
  *) sed -n '2,13p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
