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
"""The build's demo: the same checkpointing task with and without ``persist_xcom_through_retry``."""

from __future__ import annotations

import datetime

from airflow.sdk import dag, task

RECORDS = 1_000
CHECKPOINT_EVERY = 100
FAIL_AT = 500


def checkpointing_task(persist: bool):
    @task(
        task_id="with_flag" if persist else "without_flag",
        retries=1,
        retry_delay=datetime.timedelta(seconds=0),
        persist_xcom_through_retry=persist,
    )
    def process(ti=None):
        start = ti.xcom_pull(key="checkpoint") or 0
        print(f"DEMO persist={persist} try={ti.try_number} start={start}", flush=True)
        for offset in range(start, RECORDS, CHECKPOINT_EVERY):
            if ti.try_number == 1 and offset == FAIL_AT:
                raise RuntimeError(f"simulated failure at record {offset}")
            ti.xcom_push(key="checkpoint", value=offset + CHECKPOINT_EVERY)
        return RECORDS - start

    return process()


@dag(schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False)
def checkpoint_demo():
    checkpointing_task(persist=True)
    checkpointing_task(persist=False)


checkpoint_demo()
