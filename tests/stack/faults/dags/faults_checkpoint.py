"""
Checkpointing tasks for the fault-injection suite: the test kills their processes mid-run.

Each try reads the checkpoint its task instance holds (``ti.xcom_pull(key="checkpoint")``), then
works step by step, pushing the checkpoint after every step. It appends what it does to a JSON-lines
file in ``conf["record_dir"]`` (the deployment's ``state_dir``): ``start`` (with the checkpoint it
found), ``pushing`` and ``pushed`` around every push, so the test knows the last checkpoint a killed
try pushed, and where the next try started, without reading logs.

Try 1 works slowly (one step a second, 40 steps: it would take 40s, far longer than the test needs
to kill it after a few checkpoints); later tries are quick, so the run ends soon after the retry.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

STEPS = 40
NO_DELAY = datetime.timedelta(seconds=0)


def record(ti, event: str, **fields) -> None:
    conf = get_current_context()["dag_run"].conf
    path = Path(conf["record_dir"]) / f"{ti.dag_id}.{ti.task_id}.jsonl"
    line = {"event": event, "try": ti.try_number, "time": time.time(), "pid": os.getpid(), **fields}
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")


def checkpointing(ti=None) -> dict:
    start = ti.xcom_pull(key="checkpoint")
    record(ti, "start", checkpoint=start)
    for step in range(start or 0, STEPS):
        time.sleep(1.0 if ti.try_number == 1 else 0.05)  # the work of one step
        record(ti, "pushing", checkpoint=step + 1)
        ti.xcom_push(key="checkpoint", value=step + 1)
        record(ti, "pushed", checkpoint=step + 1)
    return {"try": ti.try_number, "resumed_from": start}


def checkpointing_dag(dag_id: str, **tasks: bool):
    """A Dag of independent checkpointing tasks, ``task_id=persist_xcom_through_retry``."""

    @dag(dag_id=dag_id, schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False)
    def build():
        for task_id, flag in tasks.items():
            task(
                checkpointing,
                task_id=task_id,
                retries=2,
                retry_delay=NO_DELAY,
                persist_xcom_through_retry=flag,
            )()

    return build()


# The worker (LocalExecutor worker process = the task's supervisor) dies with its task process.
checkpointing_dag("faults_worker_killed", flagged=True, unflagged=False)
# Only the task process dies; its supervisor survives and reports the failure.
checkpointing_dag("faults_task_process_killed", flagged=True)
# The scheduler dies with its executor's workers and their task processes.
checkpointing_dag("faults_scheduler_killed", flagged=True, unflagged=False)
