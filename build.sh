#!/usr/bin/env bash
# Fetch and verify the pinned upstream sdists, apply patches/series, build the two patched wheels into
# dist/, write the upstream PR export to dist/upstream-pr/, and end with a short demo (SQLite).
#   ./build.sh [--no-demo]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" build "$@"
