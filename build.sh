#!/usr/bin/env bash
# For each line of lines/: fetch and verify its pinned sdists, apply its series, build its two patched wheels into
# dist/LINE/, write its upstream PR export; then dist/upstream-pr/, and a short demo on the default line (SQLite).
#   ./build.sh [--line LINE]... [--no-demo]   (every line of lines/ unless --line names some)
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" build "$@"
