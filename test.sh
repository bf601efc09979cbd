#!/usr/bin/env bash
# Run the test suite against the built wheels, building first if the build is missing or stale.
#   ./test.sh [--backend sqlite|postgres] [--test-type unit|e2e|all] [-- pytest args]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" test "$@"
