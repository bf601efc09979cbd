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
``TIRunContext.is_automatic_restart``: does the run of a task instance come from Airflow itself?

Every test drives the task instance through the code that changes its state in production (the
Execution API routes a worker calls, ``DagRun.schedule_tis``, ``clear_task_instances``,
``SchedulerJobRunner.process_executor_events``, ``Trigger.submit_event``) against the metadata
database, then starts it with ``PATCH /execution/task-instances/{id}/run`` and reads the answer.
The only step done by hand is QUEUED, the state the scheduler gives a scheduled task instance
when it hands it to an executor.

The server answers the same for every task, flagged or not: the worker keeps the XComs listed in
``xcom_keys_to_clear`` only for a task with ``persist_xcom_through_retry`` and only when
``is_automatic_restart`` is true, so these tests use unflagged tasks unless the flag is the point.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from airflow._shared.timezones import timezone
from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI, _jwt_generator
from airflow.executors.local_executor import LocalExecutor
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance, clear_task_instances
from airflow.models.trigger import Trigger
from airflow.models.xcom import XComModel
from airflow.providers.standard.operators.python import PythonOperator
from airflow.triggers.base import StartTriggerArgs, TriggerEvent
from airflow.utils.state import TaskInstanceState

from tests_common.test_utils.asserts import count_queries
from tests_common.test_utils.db import (
    clear_db_callbacks,
    clear_db_dags,
    clear_db_jobs,
    clear_db_logs,
    clear_db_runs,
    clear_db_serialized_dags,
)

pytestmark = pytest.mark.db_test

DEFAULT_DATE = timezone.datetime(2024, 10, 31)
RUN_PAYLOAD = {
    "state": "running",
    "hostname": "random-hostname",
    "unixname": "random-unixname",
    "pid": 100,
    "start_date": "2024-10-31T12:00:00Z",
}
END_DATE = "2024-10-31T12:05:00Z"
# Execution API version before ``is_automatic_restart`` (``AddIsAutomaticRestartField``) existed.
PREVIOUS_API_VERSION = "2026-04-06"


def _noop(*_, **__):
    return None


def _make_dag(dag_maker, dag_id: str, *, retries: int = 2, **task_kwargs):
    with dag_maker(dag_id, serialized=True, schedule=None):
        PythonOperator(
            task_id="task",
            python_callable=_noop,
            retries=retries,
            retry_delay=timedelta(0),
            **task_kwargs,
        )
    return dag_maker.create_dagrun()


def _get_ti(session, dag_id: str, map_index: int = -1, task_id: str = "task") -> TaskInstance:
    """Read the task instance afresh: retries and clears give it a new id."""
    session.expire_all()
    return session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    ).one()


def _schedule_and_queue(dag_maker, session) -> None:
    """
    Do what the scheduler does with a dag run's ready task instances.

    ``task_instance_scheduling_decisions`` picks the ready ones (retry delay and reschedule date
    are honoured), ``schedule_tis`` schedules them (adding one to ``try_number`` unless they were
    rescheduled), and the executor hand-off sets them QUEUED.
    """
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


def _start(client, ti: TaskInstance, headers: dict[str, str] | None = None) -> dict:
    response = client.patch(f"/execution/task-instances/{ti.id}/run", json=RUN_PAYLOAD, headers=headers)
    assert response.status_code == 200, response.json()
    return response.json()


def _patch_state(client, ti: TaskInstance, state: str, **extra) -> None:
    """Report the end of a try (or its deferral) the way the worker's supervisor does."""
    payload = (
        {"state": state, **extra} if state == "deferred" else {"state": state, "end_date": END_DATE, **extra}
    )
    response = client.patch(f"/execution/task-instances/{ti.id}/state", json=payload)
    assert response.status_code == 204, response.text


def _push_xcoms(session, ti: TaskInstance, *keys: str) -> None:
    for key in keys:
        XComModel.set(
            key,
            {"from_try": ti.try_number},
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
            session=session,
        )
    session.commit()


def _is_automatic_restart(context: dict) -> bool:
    assert "is_automatic_restart" in context, f"the run context has no is_automatic_restart: {context}"
    return context["is_automatic_restart"]


def _executor_reports(session, ti: TaskInstance, state: TaskInstanceState) -> None:
    """Have the scheduler process an executor's report that the workload of ``ti`` ended."""
    executor = LocalExecutor()
    executor.change_state(ti.key, state, remove_running=False)
    SchedulerJobRunner.process_executor_events(
        executor=executor, job_id=None, scheduler_dag_bag=DBDagBag(), session=session
    )
    session.commit()


def _ti_run_retry(client, session, dag_maker, dag_id: str) -> TaskInstance:
    """First try runs and fails the way a worker reports it; return the task instance queued again."""
    _schedule_and_queue(dag_maker, session)
    ti = _get_ti(session, dag_id)
    _start(client, ti)
    _patch_state(client, ti, "up_for_retry")
    _schedule_and_queue(dag_maker, session)
    return _get_ti(session, dag_id)


def _remove_and_restore(session, dag_id: str, edit_dag) -> None:
    """A Dag edit drops map index 1 of the run's mapped task, and a later edit brings it back."""
    scheduler = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])
    for items, state in ((1, TaskInstanceState.REMOVED), (2, None)):
        edit_dag(items)
        session.expire_all()
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).one()
        assert scheduler._verify_integrity_if_dag_changed(dag_run, session=session)
        session.commit()
        assert _get_ti(session, dag_id, map_index=1).state == state


class TestTIRunIsAutomaticRestart:
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
        clear_db_callbacks()
        clear_db_jobs()

    def test_first_try(self, client, session, dag_maker):
        _make_dag(dag_maker, "first_try")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "first_try")
        assert ti.try_number == 1

        context = _start(client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == []

    def test_first_try_after_clearing_a_run_that_had_not_started_it(self, client, session, dag_maker):
        """Clearing a task instance that never ran archives a try 0; its first try is still no restart."""
        dag_run = _make_dag(dag_maker, "cleared_before_first_try")
        dag_maker.serialized_dag.clear(run_id=dag_run.run_id, session=session)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared_before_first_try")
        assert ti.try_number == 1

        context = _start(client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == []

    def test_retry_after_the_task_raised(self, client, session, dag_maker):
        _make_dag(dag_maker, "retry_after_raise")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "retry_after_raise")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint", "return_value")
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "retry_after_raise")
        assert (ti.try_number, ti.state) == (2, TaskInstanceState.QUEUED)

        context = _start(client, ti)

        assert _is_automatic_restart(context) is True
        assert sorted(context["xcom_keys_to_clear"]) == ["checkpoint", "return_value"]
        assert context["should_retry"] is True

    def test_every_retry_is_automatic(self, client, session, dag_maker):
        _make_dag(dag_maker, "second_retry")
        ti = _ti_run_retry(client, session, dag_maker, "second_retry")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "second_retry")
        assert ti.try_number == 3

        context = _start(client, ti)

        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["checkpoint"]
        # Last try allowed by retries=2.
        assert context["should_retry"] is False

    def test_retry_after_executor_reported_failure(self, client, session, dag_maker):
        """The worker died without reporting: the executor reports FAILED, the scheduler retries it."""
        _make_dag(dag_maker, "executor_failure")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "executor_failure")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")

        _executor_reports(session, _get_ti(session, "executor_failure"), TaskInstanceState.FAILED)

        assert _get_ti(session, "executor_failure").state == TaskInstanceState.UP_FOR_RETRY
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "executor_failure")
        assert ti.try_number == 2

        context = _start(client, ti)

        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_retry_after_heartbeat_timeout(self, client, session, dag_maker):
        """The scheduler finds the running task instance without heartbeat, fails it and retries it."""
        _make_dag(dag_maker, "heartbeat_timeout")
        executor = LocalExecutor()
        job = Job()
        runner = SchedulerJobRunner(job=job, executors=[executor])
        session.add(job)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "heartbeat_timeout")
        ti.queued_by_job_id = job.id
        session.commit()
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        ti = _get_ti(session, "heartbeat_timeout")
        ti.last_heartbeat_at = timezone.utcnow() - timedelta(days=1)
        session.commit()

        from airflow.callbacks.database_callback_sink import DatabaseCallbackSink

        executor.callback_sink = DatabaseCallbackSink()
        timed_out = runner._find_task_instances_without_heartbeats(session=session)
        assert [t.id for t in timed_out] == [ti.id]
        runner._purge_task_instances_without_heartbeats(timed_out, session=session)
        runner._process_executor_events(executor=executor, session=session)
        session.commit()

        assert _get_ti(session, "heartbeat_timeout").state == TaskInstanceState.UP_FOR_RETRY
        _schedule_and_queue(dag_maker, session)
        context = _start(client, _get_ti(session, "heartbeat_timeout"))

        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize(
        ("clear_first", "automatic"),
        [
            pytest.param(False, True, id="running"),
            pytest.param(True, False, id="cleared-while-running"),
        ],
    )
    def test_orphaned_by_a_dead_scheduler(self, client, session, dag_maker, clear_first, automatic):
        """
        The scheduler that queued a running task instance dies; another one resets it.

        That is Airflow starting the task instance again, unless a person had cleared it (it is then
        RESTARTING when it is reset).
        """
        _make_dag(dag_maker, "orphaned", persist_xcom_through_retry=True)
        dead_job = Job(job_type="SchedulerJob", state="failed")
        session.add(dead_job)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "orphaned")
        ti.queued_by_job_id = dead_job.id
        session.commit()
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        if clear_first:
            clear_task_instances([_get_ti(session, "orphaned")], session)
            session.commit()
        runner = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])

        assert runner.adopt_or_reset_orphaned_tasks(session=session) == 1
        session.commit()

        assert _get_ti(session, "orphaned").state is None
        _schedule_and_queue(dag_maker, session)
        context = _start(client, _get_ti(session, "orphaned"))

        assert _is_automatic_restart(context) is automatic
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_reschedule(self, client, session, dag_maker):
        _make_dag(dag_maker, "reschedule")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "reschedule")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "reschedule")
        assert ti.try_number == 1

        context = _start(client, ti)

        assert context["task_reschedule_count"] == 1
        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_resume_after_deferral_clears_nothing(self, client, session, dag_maker):
        _make_dag(dag_maker, "deferral")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "deferral")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(
            client,
            ti,
            "deferred",
            classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            trigger_kwargs={"moment": "2024-10-31T12:10:00Z"},
            next_method="execute_complete",
        )
        trigger_id = _get_ti(session, "deferral").trigger_id
        Trigger.submit_event(trigger_id, TriggerEvent("done"), session=session)
        session.commit()
        ti = _get_ti(session, "deferral")
        assert ti.state == TaskInstanceState.SCHEDULED
        ti.state = TaskInstanceState.QUEUED
        session.commit()

        context = _start(client, ti)

        assert context["next_method"] == "execute_complete"
        assert context["xcom_keys_to_clear"] == []
        # The same try resumes; nothing was restarted.
        assert _is_automatic_restart(context) is False

    @pytest.mark.parametrize(
        ("state", "extra"),
        [
            pytest.param("success", {}, id="success"),
            pytest.param("failed", {}, id="failed"),
            pytest.param("up_for_retry", {}, id="up_for_retry"),
            pytest.param("up_for_reschedule", {"reschedule_date": "2024-10-31T13:00:00Z"}, id="reschedule"),
        ],
    )
    @pytest.mark.parametrize("how", ["clear_task_instances", "dag.clear"])
    def test_clear_from_finished_state(self, client, session, dag_maker, state, extra, how):
        dag_run = _make_dag(dag_maker, "cleared")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, state, **extra)

        if how == "clear_task_instances":
            clear_task_instances([_get_ti(session, "cleared")], session)
        else:
            dag_maker.serialized_dag.clear(task_ids=["task"], run_id=dag_run.run_id, session=session)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared")

        context = _start(client, ti)

        assert context["task_reschedule_count"] == 0
        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize(
        ("flag", "reported", "state_after_report"),
        [
            pytest.param(False, TaskInstanceState.SUCCESS, None, id="reported-success"),
            pytest.param(True, TaskInstanceState.SUCCESS, None, id="flagged-reported-success"),
            pytest.param(
                True, TaskInstanceState.FAILED, TaskInstanceState.UP_FOR_RETRY, id="flagged-reported-failed"
            ),
        ],
    )
    def test_clear_while_running_then_executor_reports(
        self, client, session, dag_maker, flag, reported, state_after_report
    ):
        """
        A person clears a running task instance, and its executor then reports the workload.

        The task instance goes RESTARTING and its worker is told to stop. Reported SUCCESS, the
        scheduler makes it ready to run again and raises ``max_tries`` as a clear does. Reported FAILED
        (a killed Celery or Kubernetes workload, or the RESTARTING task instance timing out on
        heartbeats), the scheduler's failure handling sends it to up_for_retry without raising
        ``max_tries``, so for a task that keeps its XComs through retries the clear raises it: it is
        still the person's clear that starts it again.
        """
        dag_id = f"cleared_running_{flag}_{reported.value}"
        _make_dag(dag_maker, dag_id, persist_xcom_through_retry=flag)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, dag_id)
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        clear_task_instances([_get_ti(session, dag_id)], session)
        session.commit()
        ti = _get_ti(session, dag_id)
        assert ti.state == TaskInstanceState.RESTARTING

        _executor_reports(session, ti, reported)

        assert _get_ti(session, dag_id).state == state_after_report
        _schedule_and_queue(dag_maker, session)
        context = _start(client, _get_ti(session, dag_id))

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    @pytest.mark.parametrize(
        ("flag", "expected_max_tries"),
        [
            pytest.param(False, 2, id="unflagged-as-before"),
            pytest.param(True, 1 + 2, id="flagged-reset-at-clear"),
        ],
    )
    def test_clear_while_running_resets_max_tries_only_with_the_flag(
        self, client, session, dag_maker, flag, expected_max_tries
    ):
        dag_id = f"running_max_tries_{flag}"
        _make_dag(dag_maker, dag_id, persist_xcom_through_retry=flag)
        _schedule_and_queue(dag_maker, session)
        _start(client, _get_ti(session, dag_id))

        clear_task_instances([_get_ti(session, dag_id)], session)
        session.commit()

        ti = _get_ti(session, dag_id)
        assert ti.state == TaskInstanceState.RESTARTING
        assert ti.max_tries == expected_max_tries

    def test_clear_after_a_reschedule_that_succeeded(self, client, session, dag_maker):
        _make_dag(dag_maker, "rescheduled_then_cleared")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "rescheduled_then_cleared")
        _start(client, ti)
        _patch_state(client, ti, "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "rescheduled_then_cleared")
        assert _start(client, ti)["task_reschedule_count"] == 1
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "success")
        clear_task_instances([_get_ti(session, "rescheduled_then_cleared")], session)
        session.commit()
        _schedule_and_queue(dag_maker, session)

        context = _start(client, _get_ti(session, "rescheduled_then_cleared"))

        assert context["task_reschedule_count"] == 0
        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_clear_after_a_retry(self, client, session, dag_maker):
        _make_dag(dag_maker, "retried_then_cleared")
        ti = _ti_run_retry(client, session, dag_maker, "retried_then_cleared")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "success")
        clear_task_instances([_get_ti(session, "retried_then_cleared")], session)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "retried_then_cleared")
        assert ti.try_number == 3

        context = _start(client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_retry_after_a_clear(self, client, session, dag_maker):
        _make_dag(dag_maker, "cleared_then_retried")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared_then_retried")
        _start(client, ti)
        _patch_state(client, ti, "success")
        clear_task_instances([_get_ti(session, "cleared_then_retried")], session)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared_then_retried")
        assert _is_automatic_restart(_start(client, ti)) is False
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared_then_retried")
        assert ti.try_number == 3

        context = _start(client, ti)

        assert _is_automatic_restart(context) is True
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_clear_twice_before_running_again(self, client, session, dag_maker):
        _make_dag(dag_maker, "cleared_twice")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "cleared_twice")
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "success")
        clear_task_instances([_get_ti(session, "cleared_twice")], session)
        session.commit()
        clear_task_instances([_get_ti(session, "cleared_twice")], session)
        session.commit()
        _schedule_and_queue(dag_maker, session)

        context = _start(client, _get_ti(session, "cleared_twice"))

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_clear_with_fewer_retries_can_leave_max_tries_unchanged(self, client, session, dag_maker):
        """
        A person clears a task instance after its ``retries`` went down by the tries it used.

        The clear resets ``max_tries`` to 1 + 2, the value the first try had with ``retries=3``, so
        the server takes the start for a retry. The worker, which has the parsed task, tells it
        apart (see ``TestWorkerKeepsXComs``).
        """
        dag_run = _make_dag(dag_maker, "fewer_retries", retries=3)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "fewer_retries")
        _start(client, ti)
        _patch_state(client, ti, "success")
        with dag_maker("fewer_retries", serialized=True, schedule=None):
            PythonOperator(task_id="task", python_callable=_noop, retries=2, retry_delay=timedelta(0))

        dag_maker.serialized_dag.clear(
            task_ids=["task"], run_id=dag_run.run_id, run_on_latest_version=True, session=session
        )
        session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "fewer_retries")

        context = _start(client, ti)

        assert (ti.try_number, context["max_tries"]) == (2, 3)
        assert _is_automatic_restart(context) is True

    def test_mapped_task_instances_are_independent(self, client, session, dag_maker):
        with dag_maker("mapped", serialized=True, schedule=None):
            PythonOperator.partial(
                task_id="task",
                python_callable=_noop,
                retries=2,
                retry_delay=timedelta(0),
                persist_xcom_through_retry=True,
            ).expand(op_args=[[0], [1], [2]])
        dag_maker.create_dagrun()
        _schedule_and_queue(dag_maker, session)
        tis = [_get_ti(session, "mapped", map_index=i) for i in range(3)]
        assert [ti.try_number for ti in tis] == [1, 1, 1]
        for ti in tis:
            _start(client, ti)
            _push_xcoms(session, ti, "checkpoint")
        _push_xcoms(session, tis[2], "only_on_2")

        _patch_state(client, tis[0], "up_for_retry")
        _patch_state(client, tis[1], "success")
        clear_task_instances([_get_ti(session, "mapped", map_index=1)], session)
        session.commit()
        _patch_state(client, tis[2], "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")
        _schedule_and_queue(dag_maker, session)

        contexts = [_start(client, _get_ti(session, "mapped", map_index=i)) for i in range(3)]

        assert [_is_automatic_restart(c) for c in contexts] == [True, False, True]
        assert [sorted(c["xcom_keys_to_clear"]) for c in contexts] == [
            ["checkpoint"],
            ["checkpoint"],
            ["checkpoint", "only_on_2"],
        ]
        assert [c["task_reschedule_count"] for c in contexts] == [0, 0, 1]

    def test_restored_task_instance(self, client, session, dag_maker):
        """A task instance a Dag edit removed and a later edit restored starts new work, after a retry too."""

        def edit_dag(items: int) -> None:
            with dag_maker("restored", serialized=True, schedule=None):
                PythonOperator.partial(
                    task_id="task",
                    python_callable=_noop,
                    retries=2,
                    retry_delay=timedelta(0),
                    persist_xcom_through_retry=True,
                ).expand(op_args=[[i] for i in range(items)])

        edit_dag(2)
        dag_maker.create_dagrun()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored", map_index=1)
        _start(client, ti)
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored", map_index=1)
        _start(client, ti)
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "success")
        _remove_and_restore(session, "restored", edit_dag)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored", map_index=1)
        assert ti.try_number == 3

        context = _start(client, ti)

        assert _is_automatic_restart(context) is False
        assert context["xcom_keys_to_clear"] == ["checkpoint"]

    def test_flag_does_not_change_the_answer(self, client, session, dag_maker):
        """The server answers from the task instance's history alone; the worker applies the flag."""
        contexts = {}
        for flag in (False, True):
            dag_id = f"flag_{flag}"
            _make_dag(dag_maker, dag_id, persist_xcom_through_retry=flag)
            ti = _ti_run_retry(client, session, dag_maker, dag_id)
            contexts[flag] = _start(client, ti)

        assert _is_automatic_restart(contexts[True]) is True
        assert _is_automatic_restart(contexts[False]) is True

    @pytest.mark.parametrize(
        ("api_version", "has_field"),
        [
            pytest.param(PREVIOUS_API_VERSION, False, id="2026-04-06"),
            pytest.param("2026-11-22", True, id="2026-11-22"),
            pytest.param(None, True, id="head"),
        ],
    )
    def test_field_by_api_version(self, client, session, dag_maker, api_version, has_field):
        _make_dag(dag_maker, "api_version")
        ti = _ti_run_retry(client, session, dag_maker, "api_version")
        # A real token: Cadwyn serves older versions from copies of the route dependencies, which the
        # test override of the JWT bearer does not reach.
        token = _jwt_generator().generate(extras={"sub": str(ti.id), "scope": "execution"})
        headers = {"Authorization": f"Bearer {token}"}
        if api_version:
            headers["Airflow-API-Version"] = api_version

        context = _start(client, ti, headers=headers)

        assert ("is_automatic_restart" in context) is has_field
        if has_field:
            assert context["is_automatic_restart"] is True
        assert context["max_tries"] == 2
        assert context["xcom_keys_to_clear"] == []


_checkpoints_seen: list = []


def _resume_from_checkpoint(ti, fail_first_try):
    _checkpoints_seen.append(ti.xcom_pull(key="checkpoint"))
    ti.xcom_push(key="checkpoint", value=f"try {ti.try_number}")
    if fail_first_try and ti.try_number == 1:
        raise RuntimeError("The first try fails")


def _run_on_worker(dag_maker, ti: TaskInstance) -> TaskInstanceState:
    """Start and run ``ti`` with the Task SDK's runner, in process and from the Dag as parsed now."""
    from airflow.sdk.api.datamodels._generated import TaskInstance as TaskInstanceSDK
    from airflow.sdk.execution_time.supervisor import run_task_in_process

    result = run_task_in_process(
        ti=TaskInstanceSDK(
            id=ti.id,
            task_id=ti.task_id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            try_number=ti.try_number,
            map_index=ti.map_index,
            dag_version_id=ti.dag_version_id,
        ),
        task=dag_maker.dag.get_task(ti.task_id),
    )
    return result.ti.state


class _StartsFromTrigger(PythonOperator):
    """A task that asks to start from a trigger."""

    start_trigger_args = StartTriggerArgs(
        trigger_cls="airflow.providers.standard.triggers.temporal.TimeDeltaTrigger",
        trigger_kwargs={"delta": timedelta(0)},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )
    start_from_trigger = True


class TestWorkerKeepsXComs:
    """
    What a flagged task pulls on its next try, when the Dag file changed ``retries`` after its first.

    Both tries run with the Task SDK's runner in process, as with ``dag.test()``: the server tells
    the worker whether the start is automatic, and the worker, which has the parsed task, decides.
    """

    def setup_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()
        _checkpoints_seen.clear()

    def teardown_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    @pytest.mark.parametrize(
        ("fail_first_try", "retries", "clear_kwargs", "expected"),
        [
            pytest.param(True, 3, None, "try 1", id="retry"),
            pytest.param(True, 4, None, "try 1", id="retry-after-retries-raised"),
            # The clear resets max_tries to 1 + 2, the value it had with retries=3.
            pytest.param(
                False,
                2,
                {"run_on_latest_version": True},
                None,
                id="cleared-on-latest-version-with-fewer-retries",
            ),
            # A run of a Dag bundle without versions is cleared on the latest Dag version either way.
            pytest.param(False, 2, {}, None, id="cleared-with-fewer-retries"),
            pytest.param(
                True,
                2,
                {"run_on_latest_version": True},
                None,
                id="cleared-up-for-retry-with-fewer-retries",
            ),
            # The server's history and the parsed task's retries disagree: the flag errs toward clearing.
            pytest.param(True, 2, None, None, id="retry-after-retries-lowered-errs-toward-clearing"),
        ],
    )
    def test_checkpoint_pulled_by_the_next_try(
        self, session, dag_maker, fail_first_try, retries, clear_kwargs, expected
    ):
        task_kwargs = {
            "task_id": "task",
            "python_callable": _resume_from_checkpoint,
            "op_kwargs": {"fail_first_try": fail_first_try},
            "retry_delay": timedelta(0),
            "persist_xcom_through_retry": True,
        }
        with dag_maker("next_try", serialized=True, schedule=None):
            PythonOperator(retries=3, **task_kwargs)
        dag_run = dag_maker.create_dagrun()
        _schedule_and_queue(dag_maker, session)
        first_try_state = _run_on_worker(dag_maker, _get_ti(session, "next_try"))
        assert first_try_state == (
            TaskInstanceState.UP_FOR_RETRY if fail_first_try else TaskInstanceState.SUCCESS
        )
        with dag_maker("next_try", serialized=True, schedule=None):
            PythonOperator(retries=retries, **task_kwargs)
        if clear_kwargs is not None:
            dag_maker.serialized_dag.clear(
                task_ids=["task"], run_id=dag_run.run_id, session=session, **clear_kwargs
            )
            session.commit()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "next_try")
        assert ti.try_number == 2

        assert _run_on_worker(dag_maker, ti) == TaskInstanceState.SUCCESS
        assert _checkpoints_seen == [None, expected]

    @pytest.mark.parametrize(
        ("persist_xcom_through_retry", "expected"),
        [pytest.param(True, "try 1", id="flagged"), pytest.param(False, None, id="unflagged")],
    )
    def test_retry_of_a_task_started_from_a_trigger(
        self, session, dag_maker, persist_xcom_through_retry, expected
    ):
        """
        This release's scheduler starts no task from its trigger (``DagRun.schedule_tis`` has it disabled).

        A ``start_from_trigger`` task runs on a worker, and its retry is started as any retry is.
        """
        with dag_maker("retry_from_trigger", serialized=True, schedule=None):
            _StartsFromTrigger(
                task_id="task",
                python_callable=_resume_from_checkpoint,
                op_kwargs={"fail_first_try": True},
                retries=1,
                retry_delay=timedelta(0),
                persist_xcom_through_retry=persist_xcom_through_retry,
            )
        dag_maker.create_dagrun()

        for try_number, state in [(1, TaskInstanceState.UP_FOR_RETRY), (2, TaskInstanceState.SUCCESS)]:
            _schedule_and_queue(dag_maker, session)
            ti = _get_ti(session, "retry_from_trigger")
            assert (ti.try_number, ti.next_method) == (try_number, None)
            assert _run_on_worker(dag_maker, ti) == state

        assert _checkpoints_seen == [None, expected]

    def test_restored_task_instance_starts_over(self, session, dag_maker):
        """A task instance a Dag edit removed and a later edit restored starts new work: it pulls nothing."""

        def edit_dag(items: int) -> None:
            with dag_maker("restored_on_worker", serialized=True, schedule=None):
                PythonOperator.partial(
                    task_id="task",
                    python_callable=_resume_from_checkpoint,
                    retries=3,
                    retry_delay=timedelta(0),
                    persist_xcom_through_retry=True,
                ).expand(op_kwargs=[{"fail_first_try": False}] * items)

        edit_dag(2)
        dag_maker.create_dagrun()
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored_on_worker", map_index=1)
        assert _run_on_worker(dag_maker, ti) == TaskInstanceState.SUCCESS
        _remove_and_restore(session, "restored_on_worker", edit_dag)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored_on_worker", map_index=1)
        assert ti.try_number == 2

        assert _run_on_worker(dag_maker, ti) == TaskInstanceState.SUCCESS
        assert _checkpoints_seen == [None, None]


# Statements ``PATCH /run`` sends for a task instance starting from QUEUED. Reading the task
# instance is one statement with or without the history subquery that tells a restart apart, so
# the count must stay what unpatched Airflow 3.2.2 sends: 6 on SQLite and on PostgreSQL, measured on
# 3.2.2 with this test.
TI_RUN_STATEMENTS = {"sqlite": 6, "postgresql": 6}


class TestTIRunStatementCount:
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

    @staticmethod
    def _count_run(client, ti) -> int:
        with count_queries() as statements:
            response = client.patch(f"/execution/task-instances/{ti.id}/run", json=RUN_PAYLOAD)
        assert response.status_code == 200, response.json()
        return len(statements)

    def test_same_statement_count_for_first_try_retry_reschedule_and_clear(self, client, session, dag_maker):
        _make_dag(dag_maker, "statement_count")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "statement_count")
        counts = {"first try": self._count_run(client, ti)}
        _push_xcoms(session, ti, "checkpoint")
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "statement_count")
        counts["retry"] = self._count_run(client, ti)
        _patch_state(client, ti, "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")
        _schedule_and_queue(dag_maker, session)
        counts["reschedule"] = self._count_run(client, _get_ti(session, "statement_count"))
        _patch_state(client, _get_ti(session, "statement_count"), "success")
        clear_task_instances([_get_ti(session, "statement_count")], session)
        session.commit()
        _schedule_and_queue(dag_maker, session)
        counts["clear"] = self._count_run(client, _get_ti(session, "statement_count"))

        assert len(set(counts.values())) == 1, counts
        expected = TI_RUN_STATEMENTS.get(session.get_bind().dialect.name)
        if expected is not None:
            assert counts["first try"] == expected, counts

    def test_flagged_task_costs_no_extra_statement(self, client, session, dag_maker):
        counts = {}
        for flag in (False, True):
            dag_id = f"statement_count_{flag}"
            _make_dag(dag_maker, dag_id, persist_xcom_through_retry=flag)
            ti = _ti_run_retry(client, session, dag_maker, dag_id)
            counts[flag] = self._count_run(client, ti)

        assert counts[True] == counts[False], counts


class TestInProcessExecutionAPI:
    """``dag.test()`` and ``airflow tasks test`` run the Execution API in process, without JWTs."""

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

    def test_starts_task_and_returns_the_field(self, session, dag_maker):
        _make_dag(dag_maker, "in_process")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "in_process")

        with httpx.Client(transport=InProcessExecutionAPI().transport, base_url="http://in-process/") as api:
            response = api.patch(f"/task-instances/{ti.id}/run", json=RUN_PAYLOAD)

        assert response.status_code == 200, response.text
        assert response.json()["xcom_keys_to_clear"] == []
        assert response.json()["is_automatic_restart"] is False


OWN_MAP_INDEX_READS = [
    pytest.param("get", "", {}, lambda values: {"key": "checkpoint", "value": values[0]}, id="get"),
    pytest.param(
        "get", "", {"map_index": 2}, lambda _: {"key": "checkpoint", "value": 2}, id="get-map-index"
    ),
    pytest.param("get", "/slice", {}, lambda values: values, id="slice"),
    pytest.param("get", "/slice", {"start": 0, "stop": 1}, lambda values: values[:1], id="slice-0-1"),
    pytest.param("get", "/item/0", {}, lambda values: values[0], id="item"),
    pytest.param("head", "", {}, lambda values: f"map_indexes {len(values)}", id="head"),
]


class TestOwnMapIndexRead:
    """A flagged mapped task instance reads its own task's XComs at its own map index, from any runtime."""

    def setup_method(self):
        clear_db_runs()
        clear_db_serialized_dags()
        clear_db_dags()

    def teardown_method(self):
        clear_db_runs()
        clear_db_serialized_dags()
        clear_db_dags()

    @pytest.fixture
    def read_as(self, client, exec_app):
        """Send the read with the identity token of the task instance ``ti``, as its runtime would."""
        from airflow.api_fastapi.execution_api.datamodels.token import TIClaims, TIToken
        from airflow.api_fastapi.execution_api.security import _jwt_bearer

        original = exec_app.dependency_overrides[_jwt_bearer]

        def read(ti, method, task_id, suffix, params):
            exec_app.dependency_overrides[_jwt_bearer] = lambda: TIToken(
                id=ti.id, claims=TIClaims(sub=str(ti.id), scope="execution")
            )
            url = f"/execution/xcoms/{ti.dag_id}/{ti.run_id}/{task_id}/checkpoint{suffix}"
            response = client.request(method, url, params=params)
            if method == "head":
                return response.status_code, response.headers.get("Content-Range")
            return response.status_code, response.json()

        yield read
        exec_app.dependency_overrides[_jwt_bearer] = original

    @pytest.mark.parametrize(("method", "suffix", "params", "expected"), OWN_MAP_INDEX_READS)
    @pytest.mark.parametrize(
        ("flagged", "task_id", "own"),
        [
            pytest.param(True, "task", True, id="flagged-own-task"),
            pytest.param(True, "other", False, id="flagged-other-task"),
            pytest.param(False, "task", False, id="unflagged-own-task"),
        ],
    )
    def test_read(self, read_as, session, dag_maker, flagged, task_id, own, method, suffix, params, expected):
        with dag_maker("own_map_index", serialized=True, schedule=None):
            for producer in ("task", "other"):
                PythonOperator.partial(
                    task_id=producer,
                    python_callable=_noop,
                    persist_xcom_through_retry=flagged and producer == "task",
                ).expand(op_args=[[0], [1], [2]])
        dag_run = dag_maker.create_dagrun()
        for ti in dag_run.get_task_instances(session=session):
            # As a runtime pushes it: a JSON value the server stores as sent.
            XComModel.set(
                "checkpoint",
                ti.map_index,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
                serialize=False,
                session=session,
            )
        session.commit()
        requester = _get_ti(session, "own_map_index", map_index=1)

        status_code, body = read_as(requester, method, task_id, suffix, params)

        if method == "get" and not suffix and not params and not own:
            # Unnamed, the map index is -1, where a mapped task has no value.
            assert status_code == 404
        else:
            assert (status_code, body) == (200, expected([1] if own else [0, 1, 2]))
