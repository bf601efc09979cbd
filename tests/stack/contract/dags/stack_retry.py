"""
Automatic retry after the task raised: a flagged task resumes from its checkpoint, an unflagged one
starts over, and a downstream task reads what the flagged task left.

Every try reports what it found when it started in the XCom ``started_try_<n>``; the tests read it
through the REST API.
"""

from __future__ import annotations

import datetime

from airflow.sdk import dag, task

NO_DELAY = datetime.timedelta(seconds=0)
STEPS = 10  # steps of 10 records; try 1 fails at record 50


def checkpoint_then_fail_once(ti) -> dict:
    started = {"checkpoint": ti.xcom_pull(key="checkpoint"), "written_once": ti.xcom_pull(key="written_once")}
    ti.xcom_push(key=f"started_try_{ti.try_number}", value=started)
    if ti.try_number == 1:
        ti.xcom_push(key="written_once", value="try 1")
    done = 0
    for record in range(started["checkpoint"] or 0, STEPS * 10, 10):
        if ti.try_number == 1 and record == 50:
            raise RuntimeError("simulated failure at record 50")
        done += 1
        ti.xcom_push(key="checkpoint", value=record + 10)
    return {"try": ti.try_number, "resumed_from": started["checkpoint"], "steps": done}


@dag(
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e-stack"],
    default_args={"priority_weight": 10},  # ahead of the 200 mapped task instances of stack_mapped
)
def stack_retry():
    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def flagged(ti=None):
        return checkpoint_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY)
    def unflagged(ti=None):
        return checkpoint_then_fail_once(ti)

    @task
    def downstream(ti=None):
        return {
            task_id: {
                key: ti.xcom_pull(task_ids=task_id, key=key)
                for key in ("checkpoint", "written_once", "started_try_1", "started_try_2", "return_value")
            }
            for task_id in ("flagged", "unflagged")
        }

    [flagged(), unflagged()] >> downstream()


stack_retry()
