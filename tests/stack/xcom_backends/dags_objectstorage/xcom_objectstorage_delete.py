"""
A flagged task that deletes, on its retry, a checkpoint its previous try left in object storage.

Try 1 pushes a big checkpoint (above ``[common.io] xcom_objectstorage_threshold``: a gzip file, the row
holding its path) and fails. From 3.4 the retry is a new attempt that starts with a copy of try 1's row,
naming the same file; try 2 reads the checkpoint and deletes it with ``XCom.delete``, as a task cleaning
up once done would. What it saw is reported in a JSON file under the run's conf ``report_dir``, as in
``xcom_objectstorage``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from airflow.sdk import dag, task

NO_DELAY = datetime.timedelta(seconds=0)
BIG = list(range(100))  # ~400 bytes of JSON, above the threshold


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def xcom_objectstorage_delete():
    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def cleanup(ti=None, dag_run=None):
        from airflow.sdk.execution_time.xcom import XCom  # the configured backend

        if ti.try_number == 1:
            ti.xcom_push(key="big_checkpoint", value=BIG)
            raise RuntimeError("simulated failure after the checkpoint")
        found = ti.xcom_pull(key="big_checkpoint")
        XCom.delete(key="big_checkpoint", task_id=ti.task_id, dag_id=ti.dag_id, run_id=ti.run_id)
        report = {"try": ti.try_number, "found": found}
        (Path(dag_run.conf["report_dir"]) / f"{ti.task_id}-try{ti.try_number}.json").write_text(
            json.dumps(report)
        )

    cleanup()


xcom_objectstorage_delete()
