"""
Where and when a custom XCom backend's ``purge`` runs, flagged and unflagged.

``flagged`` (``persist_xcom_through_retry=True``) and its twin ``plain`` run the same code: each try
records a ``start`` event in the events file (``recording_backend.record``, the same file and format
as the backend's ``purge`` events), pushes ``marker`` and ``pushed_by_try_<n>`` with values naming
the task and try, and try 1 fails. The values are what ``purge`` receives, so each purge event says
whose XCom it purged.

``cleanup`` (flagged) pushes ``inherited`` in try 1, which fails; try 2 deletes the key with
``XCom.delete``. From 3.4 try 2 started with a copy of try 1's row, so the value is still try 1's too.

``purge_control`` is the tests' positive control: it pushes ``deleted`` and deletes it with
``XCom.delete``, which calls the configured backend's ``purge`` on every line (3.1 to 3.4), so its
``purge`` event is recorded only if the recording backend is the one the task processes loaded. The
tests that expect no purge from ``flagged`` and ``plain`` first check that this one was recorded.
"""

from __future__ import annotations

import datetime

from recording_backend import record  # $AIRFLOW_HOME/config is on sys.path

from airflow.sdk import dag, task

NO_DELAY = datetime.timedelta(seconds=0)


def push_then_fail_once(ti) -> str:
    record({"event": "start", "task_id": ti.task_id, "try": ti.try_number})
    ti.xcom_push(key="marker", value=f"{ti.task_id} try {ti.try_number}")
    ti.xcom_push(key=f"pushed_by_try_{ti.try_number}", value=f"{ti.task_id} try {ti.try_number}")
    if ti.try_number == 1:
        raise RuntimeError("simulated failure of try 1")
    return f"{ti.task_id} try {ti.try_number}"


def push_then_delete(ti) -> None:
    from airflow.sdk.execution_time.xcom import XCom  # the configured backend, resolved in the task process

    record({"event": "start", "task_id": ti.task_id, "try": ti.try_number})
    ti.xcom_push(key="deleted", value=f"{ti.task_id} try {ti.try_number}")
    XCom.delete(key="deleted", task_id=ti.task_id, dag_id=ti.dag_id, run_id=ti.run_id, map_index=ti.map_index)


def push_then_delete_on_retry(ti) -> None:
    from airflow.sdk.execution_time.xcom import XCom  # the configured backend, resolved in the task process

    record({"event": "start", "task_id": ti.task_id, "try": ti.try_number})
    if ti.try_number == 1:
        ti.xcom_push(key="inherited", value=f"{ti.task_id} try {ti.try_number}")
        raise RuntimeError("simulated failure of try 1")
    XCom.delete(
        key="inherited", task_id=ti.task_id, dag_id=ti.dag_id, run_id=ti.run_id, map_index=ti.map_index
    )


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["e2e-stack"])
def xcom_recording():
    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def flagged(ti=None):
        return push_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY)
    def plain(ti=None):
        return push_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def cleanup(ti=None):
        push_then_delete_on_retry(ti)

    @task
    def purge_control(ti=None):
        push_then_delete(ti)

    flagged()
    plain()
    cleanup()
    purge_control()


xcom_recording()
