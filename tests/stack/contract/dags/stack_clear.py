"""
A person's clear of a flagged task instance starts over, whatever state it was in.

One Dag per (state, way of clearing), so that ``airflow tasks clear``, which clears every run of a
Dag, touches only its own scenario. The single task ``work`` has the flag and retries; try 1 pushes
``marker`` and then

* ``success``: succeeds;
* ``failed``: fails, and so does its automatic retry (try 2), which leaves it failed;
* ``up_for_retry``: fails, and waits an hour for its retry;
* ``running``: blocks until the file named in the run's conf ``release_file`` exists.

The test clears it in that state. Every try records what it found at start in ``started_try_<n>``.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from airflow.sdk import dag, task

STATES = ("success", "failed", "up_for_retry", "running")
WAYS = ("rest", "cli")
BLOCK_AT_MOST = 600  # seconds; a test that fails to clear a running task must not hang the stack


def make_dag(state: str, way: str):
    retry_delay = datetime.timedelta(hours=1 if state == "up_for_retry" else 0)

    @dag(
        dag_id=f"stack_clear_{state}_{way}",
        schedule=None,
        start_date=datetime.datetime(2024, 1, 1),
        catchup=False,
        tags=["e2e-stack"],
        default_args={"priority_weight": 10},  # ahead of the 200 mapped task instances of stack_mapped
    )
    def clear_dag():
        @task(retries=1, retry_delay=retry_delay, persist_xcom_through_retry=True)
        def work(ti=None, dag_run=None):
            started = {key: ti.xcom_pull(key=key) for key in ("marker", "started_try_1", "started_try_2")}
            ti.xcom_push(key=f"started_try_{ti.try_number}", value=started)
            ti.xcom_push(key="marker", value=f"pushed by try {ti.try_number}")
            first_run = ti.try_number <= (2 if state == "failed" else 1)
            if not first_run:
                return f"try {ti.try_number} after the clear"
            if state in ("failed", "up_for_retry"):
                raise RuntimeError(f"simulated failure of try {ti.try_number}")
            if state == "running":
                release = Path(dag_run.conf["release_file"])
                deadline = time.monotonic() + BLOCK_AT_MOST
                while not release.exists() and time.monotonic() < deadline:
                    time.sleep(0.5)
            return f"try {ti.try_number}"

        work()

    return clear_dag()


for _state in STATES:
    for _way in WAYS:
        make_dag(_state, _way)
