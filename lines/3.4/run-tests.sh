#!/usr/bin/env bash
# Run upstream-layout tests of the 3.4 line until the tool knows lines (see TESTING.md).
#   lines/3.4/run-tests.sh <venv> <task-sdk|airflow-core> [pytest args...]
# Tests run from build/3.4/testtree: the committed HEAD of build/3.4/tree (the pristine tree with the
# series applied), with tests/upstream_compat/overlay laid over it; tests_common is
# tests/upstream_compat/tests_common with lines/3.4/upstream_compat/tests_common laid over it.
# DB_URL selects the metadata database (default: a throwaway SQLite file).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"; VENV=$1; ROOT=$2; shift 2
TT=$REPO/build/3.4/testtree
rm -rf "$TT"; mkdir -p "$TT"
(cd $REPO/build/3.4/tree && git archive HEAD | tar -x -C "$TT")
cp -r $REPO/tests/upstream_compat/overlay/. "$TT"/
COMPAT=$REPO/build/3.4/compat; rm -rf $COMPAT; cp -r $REPO/tests/upstream_compat $COMPAT
cp -r $REPO/lines/3.4/upstream_compat/. $COMPAT/; rm -rf $COMPAT/overlay
HOME_DIR=$(mktemp -d /tmp/af34-XXXX)
cd "$TT/$ROOT"
env AIRFLOW_HOME=$HOME_DIR AIRFLOW__CORE__LOAD_EXAMPLES=false AIRFLOW__CORE__UNIT_TEST_MODE=true \
  PYTHONPATH=$COMPAT AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${DB_URL:-sqlite:///$HOME_DIR/airflow.db} \
  "$VENV/bin/python" -m pytest -p no:cacheprovider --rootdir "$TT/$ROOT" "$@"
