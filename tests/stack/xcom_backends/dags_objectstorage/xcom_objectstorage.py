"""
Checkpoints through the Object Storage XCom backend of apache-airflow-providers-common-io.

``flagged`` (``persist_xcom_through_retry=True``) and its unflagged twin ``plain`` run the same
code. Try 1 pushes a small checkpoint (below ``[common.io] xcom_objectstorage_threshold``: stored
in the database) and a big one (above it: a gzip file under ``xcom_objectstorage_path``, the
database row holding its path), then fails. Every later try reads both and returns a big value.

What a try saw is reported in a JSON file per try under the run's conf ``report_dir``, not through
XComs, so that reporting adds no XCom objects of its own: the files in the task instance's storage
folder when its code started and when it ended, and the checkpoints it found.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from airflow.sdk import dag, task

try:
    from airflow.sdk.configuration import conf
except ImportError:  # the Task SDK of Airflow 3.1 has no configuration module of its own
    from airflow.configuration import conf

NO_DELAY = datetime.timedelta(seconds=0)
BIG = list(range(100))  # ~400 bytes of JSON, above the threshold
SMALL = 50  # 2 bytes, below it


def storage_folder(ti) -> Path:
    """Where the backend writes this task instance's objects (``serialize_value``'s layout)."""
    base = conf.get("common.io", "xcom_objectstorage_path").removeprefix("file://")
    return Path(base) / ti.dag_id / ti.run_id / ti.task_id


def files(ti) -> list[str]:
    """The objects in the folder, by path below it: ``<uuid4>.gz`` up to 3.3, ``ti-<attempt id>/<key>.json.gz``
    from 3.4 (the backend's ``store_value`` places each attempt's objects in a folder of their own)."""
    folder = storage_folder(ti)
    return (
        sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


def checkpoint_then_fail_once(ti, dag_run) -> dict:
    report = {"try": ti.try_number, "files_at_start": files(ti)}
    small, big = ti.xcom_pull(key="small_checkpoint"), ti.xcom_pull(key="big_checkpoint")
    report["found"] = {"small": small, "big": big}
    path = Path(dag_run.conf["report_dir"]) / f"{ti.task_id}-try{ti.try_number}.json"
    try:
        if ti.try_number == 1:
            ti.xcom_push(key="small_checkpoint", value=SMALL)
            ti.xcom_push(key="big_checkpoint", value=BIG)
            raise RuntimeError("simulated failure after the checkpoints")
        return {"try": ti.try_number, "resumed_from": small, "records": BIG}
    finally:
        report["files_at_end"] = files(ti)  # the return value is pushed after this
        path.write_text(json.dumps(report))


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def xcom_objectstorage():
    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def flagged(ti=None, dag_run=None):
        return checkpoint_then_fail_once(ti, dag_run)

    @task(retries=1, retry_delay=NO_DELAY)
    def plain(ti=None, dag_run=None):
        return checkpoint_then_fail_once(ti, dag_run)

    @task
    def downstream(ti=None):
        """What each twin left, read through the backend (files decompressed)."""
        return {
            task_id: {
                "small": ti.xcom_pull(task_ids=task_id, key="small_checkpoint"),
                "big_len": len(ti.xcom_pull(task_ids=task_id, key="big_checkpoint") or []),
                "returned_len": len(ti.xcom_pull(task_ids=task_id)["records"]),
            }
            for task_id in ("flagged", "plain")
        }

    [flagged(), plain()] >> downstream()


xcom_objectstorage()
