#
# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""
Example Dag for ``persist_xcom_through_retry``: XComs that a task keeps across its own retries.

Every try of a task instance starts without XComs. With ``persist_xcom_through_retry=True``,
when Airflow itself starts the task instance again (an automatic retry, or a reschedule), the new
try starts with the XComs the task instance held, so it can carry on from what the previous one
pushed. After a person clears the task instance, the new try starts with none, and the task
starts over.

* ``process_records`` pushes a checkpoint after every batch of records and, on a retry, resumes
  from the last checkpoint instead of starting from the first record.
* ``run_external_job`` pushes the id of the job it starts in an external system and, on a retry,
  polls that job instead of starting a second one.
* ``process_records`` also pushes one key only once, the time the work first started; a retry
  reads it and never overwrites it, so downstream tasks see the first try's value.

Triggered as it is, the Dag runs once through and succeeds. To see a retry resume, trigger it
with the param ``fail_first_try`` set to true (for example
``airflow dags trigger example_persist_xcom_through_retry --conf '{"fail_first_try": true}'``):
the first try of each task then fails on purpose part-way through, and the retry carries on.
The external system is simulated in-process; nothing in this Dag uses the network.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param, task

TOTAL_RECORDS = 10_000
CHECKPOINT_EVERY = 1_000
# With the param ``fail_first_try``, the first try of ``process_records`` fails on purpose once
# this many records are done.
SIMULATED_FAILURE_AT = 6_000
# How long a job takes in the simulated external system.
JOB_DURATION = timedelta(seconds=3)


def _submit_job() -> str:
    """
    Start a job in the simulated external system and return its id.

    The simulated system keeps no state, so that it behaves the same in every worker process:
    the id records when the job was submitted, and the job counts as finished ``JOB_DURATION``
    later. A real task would call the external system's API here.
    """
    return f"job-{uuid.uuid4().hex[:8]}-{time.time_ns() // 1_000_000}"


def _job_status(job_id: str) -> str:
    """Return the status of a job in the simulated external system: ``running`` or ``success``."""
    submitted_ms = int(job_id.rsplit("-", 1)[1])
    finished = submitted_ms / 1000 + JOB_DURATION.total_seconds() <= time.time()
    return "success" if finished else "running"


# [START howto_persist_xcom_write_once]
def push_once(ti, key: str, value):
    """
    Push ``value`` under ``key`` unless an earlier try of this task instance already did.

    Return the value that is kept: the one pushed by the first try that got here.
    """
    kept = ti.xcom_pull(key=key)
    if kept is not None:
        return kept
    ti.xcom_push(key=key, value=value)
    return value


# [END howto_persist_xcom_write_once]

with DAG(
    dag_id="example_persist_xcom_through_retry",
    schedule=None,
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
    doc_md=__doc__,
    params={
        "fail_first_try": Param(
            False,
            type="boolean",
            description="Make the first try of each task fail part-way, to show the retry resume.",
        ),
    },
):
    # [START howto_persist_xcom_checkpoint]
    # The retry starts at once, so that the example finishes quickly; keep a real delay in real tasks.
    @task(retries=1, retry_delay=timedelta(0), persist_xcom_through_retry=True)
    def process_records(ti=None, params=None) -> int:
        """Add up all records, pushing a checkpoint after each batch; resume from it on a retry."""
        started_at = push_once(ti, "started_at", datetime.now(tz=timezone.utc).isoformat())
        print(f"Try {ti.try_number}: processing first started at {started_at}")

        # On a retry, this is the checkpoint the previous try pushed last. On the first try,
        # or after the task instance was cleared, there is none and the task starts over.
        checkpoint = ti.xcom_pull(key="checkpoint") or {"next_record": 0, "total": 0}
        next_record, total = checkpoint["next_record"], checkpoint["total"]
        print(f"Try {ti.try_number}: starting at record {next_record}")

        for first in range(next_record, TOTAL_RECORDS, CHECKPOINT_EVERY):
            batch = range(first, min(first + CHECKPOINT_EVERY, TOTAL_RECORDS))
            total += sum(batch)  # Stands in for the real work on one batch of records.
            # Push the checkpoint once the batch is done. If a try fails in the middle of a
            # batch, the retry does that batch again: the work on one batch must be safe to repeat.
            ti.xcom_push(key="checkpoint", value={"next_record": batch.stop, "total": total})

            if params["fail_first_try"] and ti.try_number == 1 and batch.stop == SIMULATED_FAILURE_AT:
                # Simulated failure, standing in for a crash or a lost connection.
                raise RuntimeError(f"Simulated failure after {batch.stop} records")

        return total

    # [END howto_persist_xcom_checkpoint]

    # [START howto_persist_xcom_external_job]
    @task(retries=1, retry_delay=timedelta(0), persist_xcom_through_retry=True)
    def run_external_job(ti=None, params=None) -> str:
        """Start a job in the external system once, then wait for it, across retries."""
        job_id = ti.xcom_pull(key="job_id")
        if job_id is None:
            job_id = _submit_job()
            # Push the id right after submitting, before waiting, so that a retry finds the job.
            ti.xcom_push(key="job_id", value=job_id)
            print(f"Try {ti.try_number}: submitted job {job_id}")
        else:
            print(f"Try {ti.try_number}: polling job {job_id}, submitted by an earlier try")

        while (status := _job_status(job_id)) == "running":
            if params["fail_first_try"] and ti.try_number == 1:
                # Simulated failure, standing in for a worker lost while it waits for the job.
                raise RuntimeError(f"Simulated failure while waiting for job {job_id}")
            time.sleep(1)

        print(f"Try {ti.try_number}: job {job_id} finished with status {status}")
        return status

    # [END howto_persist_xcom_external_job]

    @task
    def report(total: int, job_status: str, ti=None) -> None:
        """Read what the retried tasks left: the result, the original job id and the start time."""
        started_at = ti.xcom_pull(task_ids="process_records", key="started_at")
        job_id = ti.xcom_pull(task_ids="run_external_job", key="job_id")
        print(f"Processed {TOTAL_RECORDS} records, total {total}, first started at {started_at}")
        print(f"Job {job_id} finished with status {job_status}")

    report(process_records(), run_external_job())
