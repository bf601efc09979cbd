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
"""
Start the attempt a 3.3 deployment left waiting for its retry, after ``airflow db migrate`` to 3.4.

Run with the 3.4 line's Python against the migrated metadata database (``upgrade_from_3_3.sh``). It
queues the live attempt, as the scheduler would, starts it through the in-process Execution API
(``ti_run``), and prints what the worker would be told to delete and what the attempt can read.
"""

from __future__ import annotations

import json
import sys

import httpx2
from sqlalchemy import select

from airflow.api_fastapi.execution_api.in_process import InProcessExecutionAPI
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel, build_xcom_read_query, xcom_entity
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState

RUN_PAYLOAD = {
    "state": "running",
    "hostname": "upgrade-probe",
    "unixname": "airflow",
    "pid": 1,
    "start_date": "2026-12-05T00:00:00Z",
}


def main(dag_id: str) -> int:
    with create_session() as session:
        ti = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).one()
        ti.state = TaskInstanceState.QUEUED
        ti_id = ti.id
    with httpx2.Client(transport=InProcessExecutionAPI().transport, base_url="http://in-process/") as api:
        response = api.patch(f"/task-instances/{ti_id}/run", json=RUN_PAYLOAD)
    response.raise_for_status()
    with create_session() as session:
        read = build_xcom_read_query(producer_ids=select(TaskInstance.id).where(TaskInstance.id == ti_id))
        entity = xcom_entity(read)
        rows = session.execute(read.with_only_columns(entity.key, entity.value))
        xcoms = {row.key: XComModel.deserialize_value(row) for row in rows}
    print(json.dumps({"xcom_keys_to_clear": response.json()["xcom_keys_to_clear"], "xcoms": xcoms}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
