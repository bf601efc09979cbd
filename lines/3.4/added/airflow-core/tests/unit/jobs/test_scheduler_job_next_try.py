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
The scheduler fails a running task instance and creates its next try.

Each path sends a task callback first, through the ``DatabaseCallbackSink`` the scheduler gives its
executors. The callback must join the scheduler's transaction: a sink that commits and closes the
scheduler's thread-local session releases its row locks and detaches the task instance before it is
failed.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from sqlalchemy import func, select

from airflow._shared.timezones import timezone
from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
from airflow.executors.local_executor import LocalExecutor
from airflow.executors.workloads.types import TaskInstanceUuid
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.db_callback_request import DbCallbackRequest
from airflow.models.taskinstance import TaskInstance, clear_task_instances
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.utils.state import TaskInstanceState

from tests_common.test_utils.db import clear_db_callbacks, clear_db_jobs, clear_db_runs

pytestmark = pytest.mark.db_test


def _on_retry(context):
    pass


@pytest.fixture
def executor():
    executor = LocalExecutor()
    executor.callback_sink = DatabaseCallbackSink()
    return executor


@pytest.fixture
def running_ti(dag_maker, session):
    """A running task instance with a retry left, queued by a scheduler job."""
    with dag_maker("test_next_try", serialized=True, schedule=None):
        EmptyOperator(task_id="task", retries=1, retry_delay=timedelta(0), on_retry_callback=_on_retry)
    dag_run = dag_maker.create_dagrun()
    job = Job()
    session.add(job)
    session.flush()
    ti = dag_run.get_task_instance("task", session=session)
    ti.state = TaskInstanceState.RUNNING
    ti.try_number = 1
    ti.start_date = timezone.utcnow()
    ti.queued_by_job_id = job.id
    ti.last_heartbeat_at = timezone.utcnow() - timedelta(days=1)
    session.commit()
    yield ti
    clear_db_runs()
    clear_db_callbacks()
    clear_db_jobs()


def _attempts(session) -> list[tuple[int, TaskInstanceState | None, bool | None]]:
    session.expire_all()
    return [
        (ti.try_number, ti.state, ti.working_set)
        for ti in session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == "test_next_try")
            .order_by(TaskInstance.try_number)
            .execution_options(include_all_attempts=True)
        )
    ]


def _callbacks(session) -> int:
    return session.scalar(select(func.count()).select_from(DbCallbackRequest))


def test_heartbeat_timeout_creates_next_try(running_ti, executor, session):
    runner = SchedulerJobRunner(job=session.get(Job, running_ti.queued_by_job_id), executors=[executor])

    runner._find_and_purge_task_instances_without_heartbeats()

    assert _attempts(session) == [
        (1, TaskInstanceState.FAILED, None),
        (2, TaskInstanceState.UP_FOR_RETRY, True),
    ]
    assert _callbacks(session) == 1


def test_heartbeat_timeout_of_cleared_task_instance_creates_next_try(running_ti, executor, session):
    clear_task_instances([running_ti], session)
    session.commit()
    assert running_ti.state == TaskInstanceState.RESTARTING
    runner = SchedulerJobRunner(job=session.get(Job, running_ti.queued_by_job_id), executors=[executor])

    runner._find_and_purge_task_instances_without_heartbeats()

    assert _attempts(session) == [
        (1, TaskInstanceState.FAILED, None),
        (2, None, True),
    ]
    assert _callbacks(session) == 1


def test_executor_reported_failure_creates_next_try(running_ti, executor, session):
    executor.change_state(TaskInstanceUuid(running_ti.id), TaskInstanceState.FAILED, remove_running=False)

    SchedulerJobRunner.process_executor_events(
        executor=executor,
        job_id=running_ti.queued_by_job_id,
        scheduler_dag_bag=DBDagBag(),
        session=session,
    )
    session.commit()

    assert _attempts(session) == [
        (1, TaskInstanceState.FAILED, None),
        (2, TaskInstanceState.UP_FOR_RETRY, True),
    ]
    assert _callbacks(session) == 1


@pytest.fixture
def scheduler_session(session, running_ti):
    """
    The scheduler's session (the test's: both are the thread-local one), recording the task instance's
    state at each commit, and its closes.
    """
    states_at_commit = []
    commit = session.commit

    def record_and_commit():
        states_at_commit.append(running_ti.state)
        commit()

    with (
        mock.patch.object(session, "commit", side_effect=record_and_commit),
        mock.patch.object(session, "close", wraps=session.close) as close,
    ):
        yield states_at_commit, close


def test_heartbeat_timeout_callback_is_committed_with_the_failure(
    running_ti, executor, session, scheduler_session
):
    runner = SchedulerJobRunner(job=session.get(Job, running_ti.queued_by_job_id), executors=[executor])
    task_instances = runner._find_task_instances_without_heartbeats(session=session)

    runner._purge_task_instances_without_heartbeats(task_instances, session=session)

    states_at_commit, close = scheduler_session
    assert TaskInstanceState.RUNNING not in states_at_commit
    close.assert_not_called()
    session.commit()
    assert _callbacks(session) == 1


def test_executor_event_callback_is_committed_with_the_failure(
    running_ti, executor, session, scheduler_session
):
    executor.change_state(TaskInstanceUuid(running_ti.id), TaskInstanceState.FAILED, remove_running=False)

    SchedulerJobRunner.process_executor_events(
        executor=executor,
        job_id=running_ti.queued_by_job_id,
        scheduler_dag_bag=DBDagBag(),
        session=session,
    )

    states_at_commit, close = scheduler_session
    assert TaskInstanceState.RUNNING not in states_at_commit
    close.assert_not_called()
    session.commit()
    assert _callbacks(session) == 1
