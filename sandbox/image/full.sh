#!/usr/bin/env bash
# Builds the full agent image: full.sh TAG RUNNER. The base (base.sh) is made once and
# kept, so a rebuild only adds the runner.
set -euo pipefail
tag=$1 runner=$2
here=$(cd "$(dirname "$0")" && pwd)
base=$("$here/base.sh")
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$runner" "$ctx/agent-runner"
cp "$here/Dockerfile.full" "$ctx/Dockerfile"
# The output is shown only on failure (the legacy builder warns about buildx on every build).
if ! docker build -q --build-arg "BASE=$base" -t "$tag" "$ctx" >"$ctx/log" 2>&1; then
  cat "$ctx/log" >&2
  exit 1
fi
