"""
200 mapped task instances with the flag in ``.partial()``, each checkpointing its own value.

Try 1 of every map index pushes ``checkpoint`` = ``checkpoint of <index>`` and fails; try 2 returns
what ``xcom_pull(key="checkpoint")`` gave it, which must be its own checkpoint and nobody else's.
Each try makes as few API calls as it can: 400 tries share 2 cores with the rest of the suite.
"""

from __future__ import annotations

import datetime

from airflow.sdk import BaseOperator, dag, task

MAP_SIZE = 200


class CheckpointOperator(BaseOperator):
    def __init__(self, *, index: int, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def execute(self, context):
        ti = context["ti"]
        started = ti.xcom_pull(key="checkpoint")
        if ti.try_number == 1:
            ti.xcom_push(key="checkpoint", value=f"checkpoint of {self.index}")
            raise RuntimeError(f"simulated failure of map index {self.index}")
        return {"index": self.index, "resumed_from": started}


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def stack_mapped():
    checkpoints = CheckpointOperator.partial(
        task_id="checkpoint",
        retries=1,
        retry_delay=datetime.timedelta(seconds=0),
        persist_xcom_through_retry=True,
    ).expand(index=list(range(MAP_SIZE)))

    @task
    def collect(ti=None):
        """Read every map index's checkpoint, as a downstream task does (vanilla semantics)."""
        return list(ti.xcom_pull(task_ids="checkpoint", key="checkpoint"))

    checkpoints >> collect()


stack_mapped()
