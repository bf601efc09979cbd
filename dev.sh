#!/usr/bin/env bash
# Patch-queue workflow (see README, "Development"):
#   ./dev.sh workspace [--force]   materialize ./work: pristine upstream + the series, one commit per patch
#   ./dev.sh export                write ./work's commits back to patches/ and the added plain files
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" "$@"
