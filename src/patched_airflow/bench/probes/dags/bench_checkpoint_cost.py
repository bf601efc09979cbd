"""Checkpoint cost: ``ti.xcom_push`` against ``task_state_store.set`` of the same small value."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from airflow.sdk import dag, task


@task
def checkpoint_cost(dag_run=None, ti=None, task_state_store=None):
    conf = dag_run.conf
    timings: dict[str, list[int]] = {"xcom_push": [], "task_state_store_set": []}

    def push(value):
        ti.xcom_push(key="checkpoint", value=value)

    def store(value):
        task_state_store.set("checkpoint", value)

    for i in range(conf["calls"]):
        value = {"offset": (i + 1) * 10_000, "records": 10_000}
        # Alternate which goes first, so neither always follows the other.
        for name, call in (("xcom_push", push), ("task_state_store_set", store))[:: 1 if i % 2 else -1]:
            began = time.perf_counter_ns()
            call(value)
            timings[name].append(time.perf_counter_ns() - began)
    Path(conf["out"]).write_text(json.dumps(timings))


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False)
def bench_checkpoint_cost():
    checkpoint_cost()


bench_checkpoint_cost()
