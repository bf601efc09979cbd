"""
A flagged Dag whose file is left as it is when rolling back: vanilla 3.3.2 cannot import it.

The rollback test expects an import error that names the argument, and every other Dag parsed.
"""

from __future__ import annotations

import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def rollout_forgotten():
    @task(persist_xcom_through_retry=True)
    def work():
        return "done"

    work()


rollout_forgotten()
