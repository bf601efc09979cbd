"""
An unflagged Dag, parseable by vanilla 3.3.2 and the patched build alike.

``work`` retries once: try 1 pushes ``checkpoint`` and ``pushed_by_try_1`` and fails; every try
records what it found when it started, and the build running it, in ``started_try_<n>``. Vanilla behaviour: try 2 finds
nothing, the retry cleared try 1's XComs.
"""

from __future__ import annotations

import datetime

import airflow
import airflow.sdk
from airflow.sdk import dag, task

NO_DELAY = datetime.timedelta(seconds=0)


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def rollout_plain():
    @task(retries=1, retry_delay=NO_DELAY)
    def work(ti=None):
        found = {key: ti.xcom_pull(key=key) for key in ("checkpoint", "pushed_by_try_1")}
        built = {"airflow": airflow.__version__, "task_sdk": airflow.sdk.__version__}  # who ran it
        ti.xcom_push(key=f"started_try_{ti.try_number}", value={**found, **built})
        if ti.try_number == 1:
            ti.xcom_push(key="checkpoint", value=50)
            ti.xcom_push(key="pushed_by_try_1", value="try 1")
            raise RuntimeError("simulated failure of try 1")
        return {"try": ti.try_number, "resumed_from": found["checkpoint"]}

    work()


rollout_plain()
