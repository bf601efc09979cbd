#!/usr/bin/env bash
# Run the test suite against the built wheels of every line (or those named), building a line first
# if its build is missing or stale.
#   ./test.sh [--line LINE]... [--backend sqlite|postgres] [--test-type unit|e2e|all] [--suite NAME]... [-- pytest args]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" test "$@"
