# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""Dags for the end-to-end tests: each task prints ``E2E <task> key=value ...`` lines to assert on."""

from __future__ import annotations

import datetime

from airflow.sdk import dag, task

NO_DELAY = datetime.timedelta(seconds=0)


def report(ti, **values):
    fields = " ".join(f"{k}={v}" for k, v in values.items())
    print(f"E2E {ti.task_id}[{ti.map_index}] try={ti.try_number} {fields}", flush=True)


def checkpoint_then_fail_once(ti):
    """Push a checkpoint every 10 steps of 100; the first try fails at step 50."""
    start = ti.xcom_pull(key="checkpoint")
    report(ti, start=start)
    if ti.try_number == 1:
        ti.xcom_push(key="written_once", value="try1")
    for step in range(start or 0, 100, 10):
        if ti.try_number == 1 and step == 50:
            raise RuntimeError("simulated failure")
        ti.xcom_push(key="checkpoint", value=step + 10)
    return "done"


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False)
def persist_xcom_e2e():
    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def flagged(ti=None):
        return checkpoint_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY)
    def unflagged(ti=None):
        return checkpoint_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY, persist_xcom_through_retry=True)
    def mapped(index: int, ti=None):
        start = ti.xcom_pull(key="checkpoint")
        report(ti, start=start)
        if ti.try_number == 1:
            ti.xcom_push(key="checkpoint", value=f"own-{index}")
            raise RuntimeError("simulated failure")
        return start

    @task
    def downstream(ti=None):
        report(
            ti,
            checkpoint=ti.xcom_pull(task_ids="flagged", key="checkpoint"),
            written_once=ti.xcom_pull(task_ids="flagged", key="written_once"),
            unflagged_written_once=ti.xcom_pull(task_ids="unflagged", key="written_once"),
        )

    flagged() >> downstream()
    unflagged() >> downstream()
    mapped.expand(index=[0, 1, 2])


@dag(
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": NO_DELAY, "persist_xcom_through_retry": True},
)
def persist_xcom_default_args():
    @task
    def from_default_args(ti=None):
        return checkpoint_then_fail_once(ti)

    from_default_args()


persist_xcom_e2e()
persist_xcom_default_args()


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False, tags=["persist-by-policy"])
def persist_xcom_policy():
    """The flag is set by the cluster policy in the e2e tests' ``airflow_local_settings``."""

    @task(retries=1, retry_delay=NO_DELAY)
    def from_policy(ti=None):
        return checkpoint_then_fail_once(ti)

    @task(retries=1, retry_delay=NO_DELAY)
    def mapped_from_policy(index: int, ti=None):
        start = ti.xcom_pull(key="checkpoint")
        report(ti, start=start)
        if ti.try_number == 1:
            ti.xcom_push(key="checkpoint", value=f"own-{index}")
            raise RuntimeError("simulated failure")

    from_policy()
    mapped_from_policy.expand(index=[0, 1])


persist_xcom_policy()
