#!/usr/bin/env bash
# Patch-queue workflow (see README, "Development"); LINE is a folder of lines/ (default: lines.toml's):
#   ./dev.sh workspace [--line LINE] [--force]   materialize work/LINE: pristine upstream + the series
#   ./dev.sh export [--line LINE]                write work/LINE's commits back to lines/LINE/
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" "$@"
