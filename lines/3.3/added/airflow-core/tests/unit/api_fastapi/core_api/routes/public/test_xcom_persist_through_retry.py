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
``persist_xcom_through_retry`` and the public REST API: what a person does still starts over.

A task with ``persist_xcom_through_retry=True`` keeps its XComs when Airflow itself starts it
again. The worker keeps the XComs that ``PATCH /execution/task-instances/{id}/run`` lists in
``xcom_keys_to_clear`` only when that answer says ``is_automatic_restart``; so a person's clear
through the REST API must make that answer false, and deleting an XCom entry through the REST
API must delete it.

Every person-facing clear of the public API ends in ``clear_task_instances``. Tested here:
``POST /dags/{dag_id}/clearTaskInstances``, ``POST /dags/{dag_id}/dagRuns/{run_id}/clear``,
``POST /dags/{dag_id}/clearDagRuns``, and the clear of failed downstream task instances that
marking a task instance's state does (``PATCH .../taskInstances/{task_id}``, single or bulk).
(``POST /dags/{dag_id}/clearPartitions`` and ``PATCH .../taskGroupInstances/{group_id}`` reach
the same function.) Each test drives the task instance through the Execution API routes a worker
calls and the scheduler's own functions, makes the person's request with an admin's token, then
starts the task instance again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from airflow.api_fastapi.app import cached_app
from airflow.api_fastapi.execution_api.app import _jwt_generator
from airflow.executors.local_executor import LocalExecutor
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.providers.standard.operators.python import PythonOperator
from airflow.utils.state import DagRunState, TaskInstanceState

from tests_common.test_utils.db import (
    clear_db_dags,
    clear_db_logs,
    clear_db_runs,
    clear_db_serialized_dags,
)
from unit.api_fastapi.execution_api.versions.head.test_task_instances_persist_xcom import (
    END_DATE,
    RUN_PAYLOAD,
    _get_ti,
    _is_automatic_restart,
    _make_dag,
    _noop,
    _push_xcoms,
)

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance

pytestmark = pytest.mark.db_test


@pytest.fixture
def execution_client():
    """
    The Execution API as a worker reaches it: the ``execution`` app, with its lifespan entered.

    The app is the cached one the Execution API tests use (building its versioned routes on the
    first request takes seconds). Requests carry a real task JWT (see ``_worker_headers``), so
    its authentication runs unchanged.
    """
    with TestClient(cached_app(apps="execution"), base_url="http://testserver/execution") as client:
        yield client


def _worker_headers(ti: TaskInstance) -> dict[str, str]:
    token = _jwt_generator().generate(extras={"sub": str(ti.id), "scope": "execution"})
    return {"Authorization": f"Bearer {token}"}


def _get_dag_run(session, dag_id: str) -> DagRun:
    session.expire_all()
    dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).one()
    dag_run.dag = DBDagBag().get_dag_for_run(dag_run=dag_run, session=session)
    return dag_run


def _schedule_and_queue(session, dag_id: str) -> None:
    """
    Do what the scheduler does with a dag run and its ready task instances.

    A queued run (as a clear with ``reset_dag_runs`` leaves a finished one) is started first;
    then ``task_instance_scheduling_decisions`` picks the ready task instances, ``schedule_tis``
    schedules them, and the executor hand-off sets them QUEUED.
    """
    dag_run = _get_dag_run(session, dag_id)
    if dag_run.state == DagRunState.QUEUED:
        dag_run.state = DagRunState.RUNNING
    schedulable = dag_run.task_instance_scheduling_decisions(session=session).schedulable_tis
    assert schedulable, "nothing was ready to be scheduled"
    dag_run.schedule_tis(schedulable, session=session)
    for ti in schedulable:
        session.refresh(ti)
        ti.state = TaskInstanceState.QUEUED
    session.commit()


def _finish_dag_run(session, dag_id: str) -> DagRun:
    """Have the scheduler update the dag run's state from its task instances."""
    dag_run = _get_dag_run(session, dag_id)
    dag_run.update_state(session=session)
    session.commit()
    return _get_dag_run(session, dag_id)


def _start(execution_client, ti: TaskInstance) -> dict:
    response = execution_client.patch(
        f"/task-instances/{ti.id}/run", json=RUN_PAYLOAD, headers=_worker_headers(ti)
    )
    assert response.status_code == 200, response.json()
    return response.json()


def _patch_state(execution_client, ti: TaskInstance, state: str) -> None:
    """Report the end of a try the way the worker's supervisor does."""
    response = execution_client.patch(
        f"/task-instances/{ti.id}/state",
        json={"state": state, "end_date": END_DATE},
        headers=_worker_headers(ti),
    )
    assert response.status_code == 204, response.text


def _xcom_keys(session, dag_id: str, map_index: int = -1) -> list[str]:
    session.expire_all()
    return sorted(
        session.scalars(
            select(XComModel.key).where(
                XComModel.dag_id == dag_id,
                XComModel.task_id == "task",
                XComModel.map_index == map_index,
            )
        )
    )


def _run_first_try(execution_client, session, dag_id: str, end_state: str, *xcom_keys: str) -> None:
    """Queue the first try, start it, have it push ``xcom_keys`` and end in ``end_state``."""
    _schedule_and_queue(session, dag_id)
    ti = _get_ti(session, dag_id)
    assert ti.try_number == 1
    _start(execution_client, ti)
    _push_xcoms(session, ti, *xcom_keys)
    _patch_state(execution_client, ti, end_state)


class TestPersonClearsThroughTheRestApi:
    """Contract row: a person clears the task instance (REST API, UI): its XComs are cleared."""

    def setup_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    def teardown_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    @pytest.mark.parametrize("reset_dag_runs", [True, False])
    @pytest.mark.parametrize("state", ["success", "failed", "up_for_retry"])
    def test_clear_task_instances(
        self, test_client, execution_client, session, dag_maker, state, reset_dag_runs
    ):
        """
        ``POST /dags/{dag_id}/clearTaskInstances`` of a finished try, while its run is still running.

        An ``up_for_retry`` task instance that the clear missed would start its retry, an automatic
        restart: the clear must turn that into a person's restart.
        """
        dag_run = _make_dag(dag_maker, "cleared", persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "cleared", state, "checkpoint", "return_value")

        response = test_client.post(
            "/dags/cleared/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": dag_run.run_id,
                "task_ids": ["task"],
                "only_failed": False,
                "reset_dag_runs": reset_dag_runs,
            },
        )

        assert response.status_code == 200, response.text
        assert [ti["task_id"] for ti in response.json()["task_instances"]] == ["task"]
        assert _get_ti(session, "cleared").state is None
        _schedule_and_queue(session, "cleared")
        ti = _get_ti(session, "cleared")
        assert ti.try_number == 2

        context = _start(execution_client, ti)

        assert _is_automatic_restart(context) is False
        assert sorted(context["xcom_keys_to_clear"]) == ["checkpoint", "return_value"]

    @pytest.mark.parametrize("state", ["success", "failed"])
    def test_clear_task_instances_of_a_finished_run(
        self, test_client, execution_client, session, dag_maker, state
    ):
        """With ``reset_dag_runs`` the clear queues the finished run again; the task starts over."""
        dag_run = _make_dag(dag_maker, "cleared_finished_run", persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "cleared_finished_run", state, "checkpoint")
        assert _finish_dag_run(session, "cleared_finished_run").state == state

        response = test_client.post(
            "/dags/cleared_finished_run/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": dag_run.run_id,
                "task_ids": ["task"],
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

        assert response.status_code == 200, response.text
        assert response.json()["total_entries"] == 1
        assert _get_dag_run(session, "cleared_finished_run").state == DagRunState.QUEUED
        _schedule_and_queue(session, "cleared_finished_run")

        context = _start(execution_client, _get_ti(session, "cleared_finished_run"))

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_clear_task_instances_only_failed_by_default(
        self, test_client, execution_client, session, dag_maker
    ):
        """The body's defaults (``only_failed``, ``reset_dag_runs``) as a plain API call sends them."""
        _make_dag(dag_maker, "cleared_by_default", retries=0, persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "cleared_by_default", "failed", "checkpoint")

        response = test_client.post(
            "/dags/cleared_by_default/clearTaskInstances",
            json={"dry_run": False, "task_ids": ["task"]},
        )

        assert response.status_code == 200, response.text
        assert response.json()["total_entries"] == 1
        _schedule_and_queue(session, "cleared_by_default")

        context = _start(execution_client, _get_ti(session, "cleared_by_default"))

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize("reset_dag_runs", [True, False])
    @pytest.mark.parametrize("executor_state", [TaskInstanceState.SUCCESS, TaskInstanceState.FAILED])
    def test_clear_task_instances_while_running(
        self, test_client, execution_client, session, dag_maker, executor_state, reset_dag_runs
    ):
        """
        A person clears a running task instance; its executor then reports the stopped workload.

        A workload stopped badly is reported FAILED, which sends the task instance to up_for_retry
        the way a failure would: the restart is still the person's clear.
        """
        dag_run = _make_dag(dag_maker, "cleared_running", persist_xcom_through_retry=True)
        _schedule_and_queue(session, "cleared_running")
        ti = _get_ti(session, "cleared_running")
        _start(execution_client, ti)
        _push_xcoms(session, ti, "checkpoint")

        response = test_client.post(
            "/dags/cleared_running/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": dag_run.run_id,
                "task_ids": ["task"],
                "only_failed": False,
                "reset_dag_runs": reset_dag_runs,
            },
        )

        assert response.status_code == 200, response.text
        ti = _get_ti(session, "cleared_running")
        assert ti.state == TaskInstanceState.RESTARTING
        executor = LocalExecutor()
        executor.change_state(ti.key, executor_state, remove_running=False)
        SchedulerJobRunner.process_executor_events(
            executor=executor, job_id=None, scheduler_dag_bag=DBDagBag(), session=session
        )
        session.commit()
        _schedule_and_queue(session, "cleared_running")
        ti = _get_ti(session, "cleared_running")
        assert ti.try_number == 2

        context = _start(execution_client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize("route", ["clear_dag_run", "clear_dag_runs"])
    @pytest.mark.parametrize("state", ["success", "failed", "up_for_retry"])
    def test_clear_dag_run(self, test_client, execution_client, session, dag_maker, route, state):
        """``POST .../dagRuns/{run_id}/clear`` and the bulk ``POST .../clearDagRuns`` clear every task."""
        dag_run = _make_dag(dag_maker, "cleared_run", persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "cleared_run", state, "checkpoint")
        _finish_dag_run(session, "cleared_run")

        if route == "clear_dag_run":
            response = test_client.post(
                f"/dags/cleared_run/dagRuns/{dag_run.run_id}/clear",
                json={"dry_run": False, "only_failed": False},
            )
        else:
            response = test_client.post(
                "/dags/cleared_run/clearDagRuns",
                json={"dry_run": False, "only_failed": False, "dag_runs": [{"dag_run_id": dag_run.run_id}]},
            )

        assert response.status_code == 200, response.text
        assert _get_ti(session, "cleared_run").state is None
        _schedule_and_queue(session, "cleared_run")

        context = _start(execution_client, _get_ti(session, "cleared_run"))

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize("route", ["patch_task_instance", "bulk_task_instances"])
    def test_marking_the_upstream_clears_the_failed_task(
        self, test_client, execution_client, session, dag_maker, route
    ):
        """
        Marking a task instance's state clears its failed downstream task instances.

        The flagged task runs after its upstream failed (``all_done``), retries once, and fails. A
        person then marks the upstream success, which clears it: the retry was automatic, the
        try after the mark is the person's.
        """
        with dag_maker("marked", serialized=True, schedule=None):
            upstream = PythonOperator(task_id="upstream", python_callable=_noop)
            upstream >> PythonOperator(
                task_id="task",
                python_callable=_noop,
                retries=1,
                retry_delay=timedelta(0),
                trigger_rule="all_done",
                persist_xcom_through_retry=True,
            )
        dag_run = dag_maker.create_dagrun()
        _schedule_and_queue(session, "marked")
        ti = _get_ti(session, "marked", task_id="upstream")
        _start(execution_client, ti)
        _patch_state(execution_client, ti, "failed")
        _run_first_try(execution_client, session, "marked", "up_for_retry", "checkpoint")
        _schedule_and_queue(session, "marked")
        ti = _get_ti(session, "marked")
        assert _is_automatic_restart(_start(execution_client, ti)) is True
        _patch_state(execution_client, ti, "failed")

        if route == "patch_task_instance":
            response = test_client.patch(
                f"/dags/marked/dagRuns/{dag_run.run_id}/taskInstances/upstream",
                json={"new_state": "success"},
            )
        else:
            response = test_client.patch(
                f"/dags/marked/dagRuns/{dag_run.run_id}/taskInstances",
                json={
                    "actions": [
                        {"action": "update", "entities": [{"task_id": "upstream", "new_state": "success"}]}
                    ]
                },
            )

        assert response.status_code == 200, response.text
        assert _get_ti(session, "marked", task_id="upstream").state == TaskInstanceState.SUCCESS
        assert _get_ti(session, "marked").state is None
        _schedule_and_queue(session, "marked")
        ti = _get_ti(session, "marked")
        assert ti.try_number == 3

        context = _start(execution_client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]


class TestDeleteXComEntryThroughTheRestApi:
    """Contract row: deleting an XCom entry through the REST API deletes it."""

    def setup_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    def teardown_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    def test_delete_between_automatic_retries(self, test_client, execution_client, session, dag_maker):
        """A person deletes a bad checkpoint while the task waits for its retry; the retry keeps the rest."""
        dag_run = _make_dag(dag_maker, "deleted", persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "deleted", "up_for_retry", "checkpoint", "progress")
        url = f"/dags/deleted/dagRuns/{dag_run.run_id}/taskInstances/task/xcomEntries/checkpoint"

        response = test_client.delete(url)

        assert response.status_code == 204, response.text
        assert _xcom_keys(session, "deleted") == ["progress"]
        assert test_client.get(url).status_code == 404
        _schedule_and_queue(session, "deleted")
        ti = _get_ti(session, "deleted")
        assert ti.try_number == 2

        context = _start(execution_client, ti)

        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["progress"]

    def test_delete_after_success(self, test_client, execution_client, session, dag_maker):
        dag_run = _make_dag(dag_maker, "deleted_after_success", persist_xcom_through_retry=True)
        _run_first_try(execution_client, session, "deleted_after_success", "success", "return_value")

        response = test_client.delete(
            f"/dags/deleted_after_success/dagRuns/{dag_run.run_id}/taskInstances/task/xcomEntries/return_value"
        )

        assert response.status_code == 204, response.text
        assert _xcom_keys(session, "deleted_after_success") == []

    def test_delete_one_map_index(self, test_client, execution_client, session, dag_maker):
        with dag_maker("deleted_mapped", serialized=True, schedule=None):
            PythonOperator.partial(
                task_id="task",
                python_callable=_noop,
                retries=2,
                retry_delay=timedelta(0),
                persist_xcom_through_retry=True,
            ).expand(op_args=[[0], [1]])
        dag_run = dag_maker.create_dagrun()
        _schedule_and_queue(session, "deleted_mapped")
        for map_index in (0, 1):
            ti = _get_ti(session, "deleted_mapped", map_index=map_index)
            _start(execution_client, ti)
            _push_xcoms(session, ti, "checkpoint")
            _patch_state(execution_client, ti, "up_for_retry")

        response = test_client.delete(
            f"/dags/deleted_mapped/dagRuns/{dag_run.run_id}/taskInstances/task/xcomEntries/checkpoint",
            params={"map_index": 1},
        )

        assert response.status_code == 204, response.text
        assert _xcom_keys(session, "deleted_mapped", map_index=0) == ["checkpoint"]
        assert _xcom_keys(session, "deleted_mapped", map_index=1) == []
        _schedule_and_queue(session, "deleted_mapped")
        contexts = [
            _start(execution_client, _get_ti(session, "deleted_mapped", map_index=map_index))
            for map_index in (0, 1)
        ]
        assert [_is_automatic_restart(context) for context in contexts] == [True, True]
        assert [context["xcom_keys_to_clear"] for context in contexts] == [["checkpoint"], []]
