"""
Parsed by both lines: ``work`` fails on try 1 after pushing ``checkpoint`` and ``pushed_by_try_1``;
its retry waits ``RETRY_DELAY``, long enough for the deployment to move to the next line between
the two tries. ``flagged`` and ``plain`` (no flag) run the same code. Every try records what it found
when it started in ``started_try_<n>``, with the build that ran it.
"""

from __future__ import annotations

import datetime

import airflow
import airflow.sdk
from airflow.sdk import dag, task

RETRY_DELAY = datetime.timedelta(seconds=45)


def work(ti):
    found = {key: ti.xcom_pull(key=key) for key in ("checkpoint", "pushed_by_try_1")}
    built = {"airflow": airflow.__version__, "task_sdk": airflow.sdk.__version__}  # who ran it
    ti.xcom_push(key=f"started_try_{ti.try_number}", value={**found, **built})
    if ti.try_number == 1:
        ti.xcom_push(key="checkpoint", value=50)
        ti.xcom_push(key="pushed_by_try_1", value="try 1")
        raise RuntimeError("simulated failure of try 1")
    return {"try": ti.try_number, "resumed_from": found["checkpoint"]}


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def upgrade_retry():
    @task(retries=1, retry_delay=RETRY_DELAY, persist_xcom_through_retry=True)
    def flagged(ti=None):
        return work(ti)

    @task(retries=1, retry_delay=RETRY_DELAY)
    def plain(ti=None):
        return work(ti)

    @task
    def downstream(ti=None):
        return {key: ti.xcom_pull(task_ids="flagged", key=key) for key in ("checkpoint", "pushed_by_try_1")}

    flagged() >> downstream()
    plain()


upgrade_retry()
