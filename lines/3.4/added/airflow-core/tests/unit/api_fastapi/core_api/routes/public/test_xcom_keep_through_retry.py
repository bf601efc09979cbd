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
``persist_xcom_through_retry`` and the public REST API's XCom entries.

A new attempt of a flagged task starts with what its predecessor held when it ended, so an entry a
person deletes from the running attempt is not carried to the next one. When Airflow schedules the
retry, the waiting task instance already holds what its next attempt starts with: the REST API shows
it, a delete there removes the entry from that start, and marking the task instance success leaves
the values to downstream tasks.

The worker's side of each attempt goes through the Execution API mounted in the same app, as the
worker's supervisor calls it.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from fastapi import Request
from sqlalchemy import select

from airflow.api_fastapi.execution_api.datamodels.token import TIClaims, TIToken
from airflow.api_fastapi.execution_api.security import _jwt_bearer
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.providers.standard.operators.python import PythonOperator
from airflow.utils.state import TaskInstanceState

from tests_common.test_utils.db import clear_db_dags, clear_db_logs, clear_db_runs, clear_db_serialized_dags

pytestmark = pytest.mark.db_test

EXECUTION_API = "http://testserver/execution"
RUN_PAYLOAD = {
    "state": "running",
    "hostname": "random-hostname",
    "unixname": "random-unixname",
    "pid": 100,
    "start_date": "2024-10-31T12:00:00Z",
}


def _noop(*_, **__):
    return None


@pytest.fixture
def worker(test_client, get_execution_app):
    """
    ``test_client``, also allowed to call the Execution API as the task instance of each request.

    The Execution API authenticates a worker with a token for one task instance; the token is
    replaced by one for the task instance the request's path names. The app's lifespan is entered,
    as the Execution API needs it.
    """
    execution_app = get_execution_app(test_client)

    async def token_for_the_path_ti(request: Request) -> TIToken:
        ti_id = UUID(request.path_params.get("task_instance_id", "00000000-0000-0000-0000-000000000000"))
        return TIToken(id=ti_id, claims=TIClaims(sub=str(ti_id), scope="execution"))

    execution_app.dependency_overrides[_jwt_bearer] = token_for_the_path_ti
    with test_client:
        yield test_client
    execution_app.dependency_overrides.pop(_jwt_bearer, None)


def _make_dag(dag_maker, dag_id: str, *, persist_xcom_through_retry: bool = True) -> None:
    with dag_maker(dag_id, serialized=True, schedule=None):
        PythonOperator(
            task_id="task",
            python_callable=_noop,
            retries=2,
            retry_delay=timedelta(0),
            persist_xcom_through_retry=persist_xcom_through_retry,
        )
    dag_maker.create_dagrun()


def _current_attempt(session, dag_id: str) -> TaskInstance:
    session.expire_all()
    return session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).one()


def _attempts(session, dag_id: str) -> list[TaskInstance]:
    session.expire_all()
    return list(
        session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id)
            .order_by(TaskInstance.try_number)
            .execution_options(include_all_attempts=True)
        )
    )


def _schedule_and_queue(dag_maker, session) -> None:
    """Do what the scheduler does with the run's ready task instances, up to the executor hand-off."""
    session.expire_all()
    dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_maker.dag.dag_id)).one()
    dag_run.dag = DBDagBag().get_dag_for_run(dag_run=dag_run, session=session)
    schedulable = dag_run.task_instance_scheduling_decisions(session=session).schedulable_tis
    assert schedulable, "nothing was ready to be scheduled"
    dag_run.schedule_tis(schedulable, session=session)
    for ti in schedulable:
        session.refresh(ti)
        ti.state = TaskInstanceState.QUEUED
    session.commit()


def _start(worker, ti: TaskInstance) -> None:
    response = worker.patch(f"{EXECUTION_API}/task-instances/{ti.id}/run", json=RUN_PAYLOAD)
    assert response.status_code == 200, response.text


def _task_raised(worker, ti: TaskInstance) -> None:
    """Report that the attempt's task raised, as the worker's supervisor does."""
    response = worker.patch(
        f"{EXECUTION_API}/task-instances/{ti.id}/state",
        json={"state": "up_for_retry", "end_date": "2024-10-31T12:05:00Z"},
    )
    assert response.status_code == 204, response.text


def _push(session, ti: TaskInstance, **values) -> None:
    for key, value in values.items():
        XComModel.set_for_attempt(task_instance_id=ti.id, key=key, value=value, session=session)
    session.commit()


def _task_url(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/task"


def _entries(test_client, ti: TaskInstance) -> dict:
    """What the REST API shows as the task instance's XComs."""
    url = f"{_task_url(ti.dag_id, ti.run_id)}/xcomEntries"
    listed = test_client.get(url)
    assert listed.status_code == 200, listed.text
    entries = {}
    for key in (entry["key"] for entry in listed.json()["xcom_entries"]):
        response = test_client.get(f"{url}/{key}", params={"deserialize": True})
        assert response.status_code == 200, response.text
        entries[key] = response.json()["value"]
    return entries


class TestXComEntriesOfAFlaggedTask:
    def setup_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    def teardown_method(self):
        self.setup_method()

    @pytest.mark.parametrize("persist_xcom_through_retry", [True, False])
    def test_deleted_entry_is_gone(self, worker, session, dag_maker, persist_xcom_through_retry):
        _make_dag(dag_maker, "deleted_entry", persist_xcom_through_retry=persist_xcom_through_retry)
        _schedule_and_queue(dag_maker, session)
        ti = _current_attempt(session, "deleted_entry")
        _start(worker, ti)
        _push(session, ti, checkpoint=500, progress="half")

        response = worker.delete(f"{_task_url(ti.dag_id, ti.run_id)}/xcomEntries/checkpoint")

        assert response.status_code == 204
        assert _entries(worker, ti) == {"progress": "half"}

    @pytest.mark.parametrize("persist_xcom_through_retry", [True, False])
    def test_deleted_from_the_running_attempt_is_not_carried_forward(
        self, worker, session, dag_maker, persist_xcom_through_retry
    ):
        _make_dag(dag_maker, "deleted", persist_xcom_through_retry=persist_xcom_through_retry)
        _schedule_and_queue(dag_maker, session)
        first = _current_attempt(session, "deleted")
        _start(worker, first)
        _push(session, first, checkpoint=500, progress="half")

        response = worker.delete(f"{_task_url(first.dag_id, first.run_id)}/xcomEntries/checkpoint")
        assert response.status_code == 204
        _task_raised(worker, first)
        _schedule_and_queue(dag_maker, session)
        ti = _current_attempt(session, "deleted")
        _start(worker, ti)

        assert ti.id != first.id
        assert _entries(worker, ti) == ({"progress": "half"} if persist_xcom_through_retry else {})

    def test_waiting_for_the_retry_shows_what_the_retry_starts_with(self, worker, session, dag_maker):
        _make_dag(dag_maker, "waiting")
        _schedule_and_queue(dag_maker, session)
        first = _current_attempt(session, "waiting")
        _start(worker, first)
        _push(session, first, checkpoint=500, progress="half")
        _task_raised(worker, first)

        waiting = _current_attempt(session, "waiting")
        assert waiting.state == TaskInstanceState.UP_FOR_RETRY
        assert _entries(worker, waiting) == {"checkpoint": 500, "progress": "half"}
        response = worker.delete(f"{_task_url(waiting.dag_id, waiting.run_id)}/xcomEntries/checkpoint")
        assert response.status_code == 204
        assert _entries(worker, waiting) == {"progress": "half"}

        _schedule_and_queue(dag_maker, session)
        ti = _current_attempt(session, "waiting")
        _start(worker, ti)

        assert [attempt.try_number for attempt in _attempts(session, "waiting")] == [1, 2]
        assert _entries(worker, ti) == {"progress": "half"}

    def test_marked_success_while_waiting_leaves_the_values_downstream(self, worker, session, dag_maker):
        _make_dag(dag_maker, "marked")
        _schedule_and_queue(dag_maker, session)
        first = _current_attempt(session, "marked")
        _start(worker, first)
        _push(session, first, checkpoint=500)
        _task_raised(worker, first)

        response = worker.patch(_task_url(first.dag_id, first.run_id), json={"new_state": "success"})
        assert response.status_code == 200, response.text

        ti = _current_attempt(session, "marked")
        assert ti.state == TaskInstanceState.SUCCESS
        assert _entries(worker, ti) == {"checkpoint": 500}
