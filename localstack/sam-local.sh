#!/usr/bin/env bash
# The `sam local` checks of make sam-local-test, run inside `docker.sh with`
# (an engine up, the base image present) after the x86_64 `sam build`:
# LocalStack listening on the Docker bridge as well, template.yaml deployed with
# the functions off, the env-vars file written from that stack, then the tests
# in localstack/e2e/tests/sam_local.rs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ENV_VARS="$ROOT/.aws-sam/local-env-vars.json"

gateway="$(localstack/docker.sh gateway)"
container_endpoint="http://$gateway:4566"

if [ "${1:-}" != inside ]; then
  # Containers reach this machine at the bridge's address; LocalStack listens there too.
  LS_GATEWAY_LISTEN="127.0.0.1:4566,$gateway:4566" exec localstack/ls.sh with "$0" inside
fi

curl -sf --max-time 2 -o /dev/null "$container_endpoint/_localstack/health" || {
  echo "sam-local: LocalStack runs but not on $gateway:4566, where containers reach it;" \
    "restart it with LS_GATEWAY_LISTEN=127.0.0.1:4566,$gateway:4566 localstack/ls.sh up" >&2
  exit 1
}
mkdir -p "$(dirname "$ENV_VARS")"
target/release/shopsphere-local env-vars --container-endpoint "$container_endpoint" >"$ENV_VARS"
echo "sam-local: $ENV_VARS written from stack shopsphere-local (functions reach LocalStack at $container_endpoint)"
SAM_ENV_VARS="$ENV_VARS" cargo test --release --workspace --test sam_local -- --nocapture --test-threads 1
# SAM removes each container after its invocation or request; on an engine of
# our own (no one else's containers), check it did.
if [ "${DOCKER_HOST:-}" = "unix://${DOCKER_HOME:-$ROOT/.docker}/docker.sock" ]; then
  left="$(docker ps -aq)"
  [ -z "$left" ] || { echo "sam-local: containers left behind: $left" >&2; exit 1; }
fi
