#!/usr/bin/env bash
# The contract's upgrade row on a real migration: a flagged task instance waits for its retry on the
# 3.3 line, the metadata database is migrated to 3.4 (migration 0142 and the rest), and the attempt is
# started on the 3.4 line. Prints what ti_run tells the worker to delete and what the attempt can read:
#   kept:            {"xcom_keys_to_clear": [], "xcoms": {"checkpoint": 500}}
#   vanilla 3.4.0b2: {"xcom_keys_to_clear": ["checkpoint"], ...}   (the worker deletes the checkpoint)
#   cleared on 3.3:  {"xcom_keys_to_clear": ["checkpoint"], ...}   (a clear starts over)
# usage: upgrade_from_3_3.sh <3.3-line venv> <3.4 venv> [clear]   (SQLite, in a temporary folder)
set -euo pipefail
V33=$1; V34=$2; CLEAR=${3:-}
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK=$(mktemp -d /tmp/upgrade-3.3-XXXX)
mkdir -p "$WORK/dags"
cat > "$WORK/dags/upgrade_checkpoint.py" <<'DAG'
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

with DAG(dag_id="upgrade_checkpoint", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task(retries=2, retry_delay=timedelta(hours=1), persist_xcom_through_retry=True)
    def work(ti=None):
        if ti.try_number == 1:
            ti.xcom_push(key="checkpoint", value=500)
            raise RuntimeError("fail the first try")

    work()
DAG
export AIRFLOW_HOME="$WORK/home" AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags" AIRFLOW__CORE__LOAD_EXAMPLES=false
"$V33/bin/airflow" db migrate >"$WORK/migrate-3.3.log" 2>&1
# `dags test` waits for the hour-long retry delay forever: stop it once the first try has failed.
"$V33/bin/airflow" dags test upgrade_checkpoint 2026-01-02 >"$WORK/dags-test-3.3.log" 2>&1 &
TEST_PID=$!
for _ in $(seq 120); do
    grep -q "up_for_retry" "$WORK/dags-test-3.3.log" 2>/dev/null && break
    sleep 1
done
kill -9 "$TEST_PID" 2>/dev/null || true
wait "$TEST_PID" 2>/dev/null || true
if [ "$CLEAR" = clear ]; then
    "$V33/bin/airflow" tasks clear -y upgrade_checkpoint >"$WORK/clear-3.3.log" 2>&1
fi
"$V34/bin/airflow" db migrate >"$WORK/migrate-3.4.log" 2>&1
"$V34/bin/python" "$HERE/upgrade_probe.py" upgrade_checkpoint 2>"$WORK/probe.log"
