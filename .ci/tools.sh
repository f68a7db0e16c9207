#!/usr/bin/env bash
# Dev/CI tools in .tools/venv (git-ignored): SAM CLI, cfn-lint (+ serverless
# rules), cargo-lambda and zig, pinned by .ci/tools-constraints.txt. Installed
# once; reused while the pins are unchanged. Prints the venv's bin folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/venv"
KEY="$(sha256sum "$ROOT/.ci/tools-constraints.txt" | cut -c1-16)"
if [ ! -f "$VENV/.installed-$KEY" ]; then
  echo "tools: installing SAM CLI, cfn-lint, cargo-lambda, zig into $VENV (pinned)" >&2
  PY="$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13"
  [ -x "$PY" ] || PY="$HOME/.pyenv/versions/3.13.0/bin/python3.13"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  PIP_CACHE_DIR="$ROOT/.tools/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/pip" install --quiet -c "$ROOT/.ci/tools-constraints.txt" \
    aws-sam-cli cfn-lint cfn-lint-serverless cargo-lambda ziglang
  touch "$VENV/.installed-$KEY"
fi
echo "$VENV/bin"
