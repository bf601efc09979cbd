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
``persist_xcom_through_retry`` in ``PATCH /execution/task-instances/{id}/run``.

When Airflow itself starts a task with the flag again, the new attempt starts with the XComs the task
instance held, and ``xcom_keys_to_clear`` lists none of them; after a person's clear it starts with
none. Every test drives the task instance through the code that changes its state in production (the
Execution API routes a worker calls, ``DagRun.schedule_tis``, ``clear_task_instances``,
``SchedulerJobRunner``) against the metadata database, then starts it with ``PATCH .../run``. The only
step done by hand is QUEUED, the state the scheduler gives a scheduled task instance when it hands it
to an executor.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from sqlalchemy import insert, select

from airflow._shared.timezones import timezone
from airflow.executors.local_executor import LocalExecutor
from airflow.executors.workloads.types import TaskInstanceUuid
from airflow.jobs.job import Job
from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
from airflow.models.dagbag import DBDagBag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import LegacyTaskDataOwner, TaskInstance, clear_task_instances
from airflow.models.xcom import XComModel, XComModelV1, build_xcom_read_query, xcom_entity
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import task_group
from airflow.sdk.definitions._internal.loop import create_loop
from airflow.utils.state import TaskInstanceState

from tests_common.test_utils.asserts import count_queries
from tests_common.test_utils.db import (
    clear_db_dags,
    clear_db_jobs,
    clear_db_logs,
    clear_db_runs,
    clear_db_serialized_dags,
)

pytestmark = pytest.mark.db_test

RUN_PAYLOAD = {
    "state": "running",
    "hostname": "random-hostname",
    "unixname": "random-unixname",
    "pid": 100,
    "start_date": "2024-10-31T12:00:00Z",
}
END_DATE = "2024-10-31T12:05:00Z"
# What starting a task instance costs in a release without the flag, with a cold Dag cache, for a worker
# on the head Execution API version and on the previous one (a worker not upgraded yet).
UNFLAGGED_START_STATEMENTS = {
    None: {"first try": 8, "reschedule": 8, "retry": 8},
    "2026-06-30": {"first try": 7, "reschedule": 7, "retry": 7},
}


def _noop(*_, **__):
    return None


def _make_dag(dag_maker, dag_id: str, *, retries: int = 2, persist_xcom_through_retry: bool = True):
    # Without the flag, the argument is left out, so the unflagged tests also run on a release without it.
    flag = {"persist_xcom_through_retry": True} if persist_xcom_through_retry else {}
    with dag_maker(dag_id, serialized=True, schedule=None):
        PythonOperator(
            task_id="task", python_callable=_noop, retries=retries, retry_delay=timedelta(0), **flag
        )
    return dag_maker.create_dagrun()


def _get_ti(session, dag_id: str, map_index: int = -1) -> TaskInstance:
    """Read the current attempt afresh: every retry and clear gives it a new id."""
    session.expire_all()
    return session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id == "task",
            TaskInstance.map_index == map_index,
        )
    ).one()


def _get_attempts(session, dag_id: str, map_index: int = -1) -> list[TaskInstance]:
    session.expire_all()
    return list(
        session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.map_index == map_index)
            .order_by(TaskInstance.try_number)
            .execution_options(include_all_attempts=True)
        )
    )


def _schedule_and_queue(dag_maker, session) -> None:
    """Do what the scheduler does with a dag run's ready task instances, up to the executor hand-off."""
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


def _start(client, ti: TaskInstance) -> dict:
    response = client.patch(f"/execution/task-instances/{ti.id}/run", json=RUN_PAYLOAD)
    assert response.status_code == 200, response.json()
    return response.json()


def _patch_state(client, ti: TaskInstance, state: str, **extra) -> None:
    """Report the end of an attempt the way the worker's supervisor does."""
    response = client.patch(
        f"/execution/task-instances/{ti.id}/state", json={"state": state, "end_date": END_DATE, **extra}
    )
    assert response.status_code == 204, response.text


def _push_xcoms(session, ti: TaskInstance, **values) -> None:
    for key, value in values.items():
        XComModel.set_for_attempt(task_instance_id=ti.id, key=key, value=value, session=session)
    session.commit()


def _xcoms(session, ti: TaskInstance) -> dict:
    """The XComs an attempt holds, as every reader of that attempt sees them."""
    session.expire_all()
    read = build_xcom_read_query(producer_ids=select(TaskInstance.id).where(TaskInstance.id == ti.id))
    entity = xcom_entity(read)
    rows = session.execute(
        read.with_only_columns(entity.key, entity.value).execution_options(include_all_attempts=True)
    )
    return {key: XComModel.deserialize_value(row) for key, row in ((r.key, r) for r in rows)}


def _own_pre_3_4_checkpoint(session, dag_run: DagRun, ti: TaskInstance) -> None:
    """Give attempt ``ti`` a checkpoint in ``xcom_v1``, owned as the upgrade from 3.3 leaves it."""
    session.add(
        LegacyTaskDataOwner(
            dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=-1, task_instance_id=ti.id
        )
    )
    session.flush()
    session.execute(
        insert(XComModelV1).values(
            dag_run_id=dag_run.id,
            task_id=ti.task_id,
            map_index=-1,
            key="checkpoint",
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            value=XComModel.serialize_value(500),
            timestamp=timezone.utcnow(),
        )
    )
    session.commit()


def _executor_reports(session, ti: TaskInstance, state: TaskInstanceState) -> None:
    """Have the scheduler process an executor's report that the workload of ``ti`` ended."""
    executor = LocalExecutor()
    executor.change_state(TaskInstanceUuid(ti.id), state, remove_running=False)
    SchedulerJobRunner.process_executor_events(
        executor=executor, job_id=None, scheduler_dag_bag=DBDagBag(), session=session
    )
    session.commit()


# How the attempt that pushed the checkpoint ends, and how the task instance is started again. Each
# takes the running attempt and leaves the next one ready to be scheduled.


def _task_raised(client, session, dag_maker, ti):
    _patch_state(client, ti, "up_for_retry")


def _executor_reported_failure(client, session, dag_maker, ti):
    _executor_reports(session, _get_ti(session, ti.dag_id), TaskInstanceState.FAILED)


def _orphaned_by_a_dead_scheduler(client, session, dag_maker, ti):
    dead_job = Job(job_type="SchedulerJob", state="failed")
    session.add(dead_job)
    session.commit()
    ti = _get_ti(session, ti.dag_id)
    ti.queued_by_job_id = dead_job.id
    session.commit()
    assert SchedulerJobRunner(job=Job(), executors=[LocalExecutor()]).adopt_or_reset_orphaned_tasks(
        session=session
    )
    session.commit()


def _heartbeat_timed_out(client, session, dag_maker, ti):
    """The scheduler finds the running attempt without a heartbeat and fails it."""
    from airflow.callbacks.database_callback_sink import DatabaseCallbackSink

    executor = LocalExecutor()
    executor.callback_sink = DatabaseCallbackSink()
    job = Job()
    session.add(job)
    session.commit()
    runner = SchedulerJobRunner(job=job, executors=[executor])
    ti = _get_ti(session, ti.dag_id)
    ti.queued_by_job_id = job.id
    ti.last_heartbeat_at = timezone.utcnow() - timedelta(days=1)
    session.commit()
    timed_out = runner._find_task_instances_without_heartbeats(session=session)
    assert [t.id for t in timed_out] == [ti.id]
    runner._purge_task_instances_without_heartbeats(timed_out, session=session)
    session.commit()


def _retried_from_a_trigger(client, session, dag_maker, ti):
    """A task that starts from a trigger is retried straight into deferral: the resume is its start."""
    _patch_state(client, ti, "up_for_retry")
    retry = _get_ti(session, ti.dag_id)
    retry.next_method = "execute_complete"
    session.commit()


def _rescheduled(client, session, dag_maker, ti):
    _patch_state(client, ti, "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")


def _cleared_after(state: str):
    def clear(client, session, dag_maker, ti):
        _patch_state(client, ti, state)
        clear_task_instances([_get_ti(session, ti.dag_id)], session)
        session.commit()

    return clear


def _cleared_while_running_then_reported(reported: TaskInstanceState):
    def clear(client, session, dag_maker, ti):
        clear_task_instances([_get_ti(session, ti.dag_id)], session)
        session.commit()
        assert _get_ti(session, ti.dag_id).state == TaskInstanceState.RESTARTING
        _executor_reports(session, _get_ti(session, ti.dag_id), reported)

    return clear


def _cleared_while_running_then_heartbeat_timed_out(client, session, dag_maker, ti):
    clear_task_instances([_get_ti(session, ti.dag_id)], session)
    session.commit()
    _heartbeat_timed_out(client, session, dag_maker, ti)


def _cleared_on_latest_version_with_fewer_retries(client, session, dag_maker, ti):
    """A clear on a Dag version with fewer retries leaves ``max_tries`` where the retry had it."""
    _patch_state(client, ti, "up_for_retry")
    with dag_maker(ti.dag_id, serialized=True, schedule=None):
        PythonOperator(
            task_id="task",
            python_callable=_noop,
            retries=1,
            retry_delay=timedelta(0),
            persist_xcom_through_retry=True,
        )
    dag_maker.serialized_dag.clear(
        task_ids=["task"], run_id=ti.run_id, run_on_latest_version=True, session=session
    )
    session.commit()
    assert _get_ti(session, ti.dag_id).max_tries == _get_attempts(session, ti.dag_id)[0].max_tries


RESTARTS = [
    pytest.param(_task_raised, True, id="retry-after-the-task-raised"),
    pytest.param(_executor_reported_failure, True, id="retry-after-executor-reported-failure"),
    pytest.param(_heartbeat_timed_out, True, id="retry-after-heartbeat-timeout"),
    pytest.param(_orphaned_by_a_dead_scheduler, True, id="reset-by-another-scheduler"),
    pytest.param(_retried_from_a_trigger, True, id="retry-of-a-task-started-from-a-trigger"),
    pytest.param(_rescheduled, True, id="reschedule"),
    pytest.param(_cleared_after("success"), False, id="clear-after-success"),
    pytest.param(_cleared_after("failed"), False, id="clear-after-failure"),
    pytest.param(_cleared_after("up_for_retry"), False, id="clear-while-waiting-for-retry"),
    pytest.param(
        _cleared_while_running_then_reported(TaskInstanceState.SUCCESS),
        False,
        id="clear-while-running-reported-success",
    ),
    pytest.param(
        _cleared_while_running_then_reported(TaskInstanceState.FAILED),
        False,
        id="clear-while-running-reported-failed",
    ),
    pytest.param(
        _cleared_while_running_then_heartbeat_timed_out, False, id="clear-while-running-heartbeat-timed-out"
    ),
    pytest.param(_cleared_on_latest_version_with_fewer_retries, False, id="clear-after-lowering-retries"),
]


def _start_again(client, session, dag_maker, dag_id, restart, **dag_kwargs):
    """
    Start a task that pushes two XComs, ``restart`` it and start it again.

    Returns the first attempt, the new one and the context of the new one's start.
    """
    _make_dag(dag_maker, dag_id, **dag_kwargs)
    _schedule_and_queue(dag_maker, session)
    first = _get_ti(session, dag_id)
    _start(client, first)
    _push_xcoms(session, first, checkpoint=500, return_value="first")

    restart(client, session, dag_maker, first)
    _schedule_and_queue(dag_maker, session)
    ti = _get_ti(session, dag_id)
    return first, ti, _start(client, ti)


class TestKeepXComs:
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
        clear_db_jobs()

    @pytest.mark.parametrize(("restart", "kept"), RESTARTS)
    def test_restart(self, client, session, dag_maker, restart, kept):
        first, ti, context = _start_again(client, session, dag_maker, "restarted", restart)

        if kept:
            assert context["xcom_keys_to_clear"] == []
            assert _xcoms(session, ti) == {"checkpoint": 500, "return_value": "first"}
        else:
            # A new attempt, with nothing for the worker to delete.
            assert ti.id != first.id
            assert (context["xcom_keys_to_clear"], _xcoms(session, ti)) == ([], {})
        if ti.id != first.id:
            # The archived attempt keeps its own record.
            assert _xcoms(session, first) == {"checkpoint": 500, "return_value": "first"}

    def test_flag_dropped_while_waiting_for_the_reschedule(self, client, session, dag_maker):
        """
        A Dag edit that drops the flag while a retried attempt waits for its reschedule clears its XComs.

        The worker deletes, and purges, only what the attempt pushed itself; the server deletes the copies
        it started with, whose stored values the archived attempt still names, without a purge.
        """
        first, ti, _ = _start_again(client, session, dag_maker, "dropped", _task_raised)
        _push_xcoms(session, ti, progress=750)
        _rescheduled(client, session, dag_maker, ti)
        with dag_maker("dropped", serialized=True, schedule=None):
            PythonOperator(task_id="task", python_callable=_noop, retries=2, retry_delay=timedelta(0))
        # The scheduler moves the unfinished task instances of a run without a bundle version to the new one.
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == "dropped")).one()
        runner = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])
        assert runner._verify_integrity_if_dag_changed(dag_run=dag_run, session=session)
        session.commit()
        _schedule_and_queue(dag_maker, session)

        context = _start(client, _get_ti(session, "dropped"))

        assert context["xcom_keys_to_clear"] == ["progress"]
        assert _xcoms(session, ti) == {"progress": 750}
        assert _xcoms(session, first) == {"checkpoint": 500, "return_value": "first"}

    @pytest.mark.parametrize(
        ("restart", "keys_to_clear"),
        [
            pytest.param(_task_raised, [], id="retry"),
            pytest.param(_rescheduled, ["checkpoint", "return_value"], id="reschedule"),
        ],
    )
    def test_without_the_flag(self, client, session, dag_maker, restart, keys_to_clear):
        """Unflagged, a retry starts without XComs and a reschedule lists its own for deletion."""
        first, ti, context = _start_again(
            client, session, dag_maker, "unflagged", restart, persist_xcom_through_retry=False
        )

        assert sorted(context["xcom_keys_to_clear"]) == keys_to_clear
        if ti.id != first.id:
            assert _xcoms(session, ti) == {}

    @pytest.mark.parametrize(
        "reason",
        [
            pytest.param("clear", id="finished-attempt-archived-by-a-clear"),
            pytest.param("retry", id="pending-attempt-cleared"),
        ],
    )
    def test_clear_records_why_the_attempt_was_archived(self, client, session, dag_maker, reason):
        """A clear makes the latest archived attempt read ``clear``, whether or not the clear archived it."""
        _make_dag(dag_maker, f"archived_{reason}")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, f"archived_{reason}")
        _start(client, ti)
        _patch_state(client, ti, "success" if reason == "clear" else "up_for_retry")
        assert [a.archived_reason for a in _get_attempts(session, ti.dag_id)] == (
            [None] if reason == "clear" else ["retry", None]
        )

        clear_task_instances([_get_ti(session, ti.dag_id)], session)
        session.commit()

        assert [a.archived_reason for a in _get_attempts(session, ti.dag_id)] == ["clear", None]

    def test_each_attempt_keeps_its_own_record(self, client, session, dag_maker):
        """Three attempts: each carries what the previous one held, and none loses what it pushed."""
        _make_dag(dag_maker, "chain")
        _schedule_and_queue(dag_maker, session)
        first = _get_ti(session, "chain")
        _start(client, first)
        _push_xcoms(session, first, checkpoint=1, launched="job-1")
        _patch_state(client, first, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        second = _get_ti(session, "chain")
        _start(client, second)
        _push_xcoms(session, second, checkpoint=2, second_only="x")
        _patch_state(client, second, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        third = _get_ti(session, "chain")
        _start(client, third)

        assert _xcoms(session, third) == {"checkpoint": 2, "launched": "job-1", "second_only": "x"}
        assert _xcoms(session, second) == {"checkpoint": 2, "launched": "job-1", "second_only": "x"}
        assert _xcoms(session, first) == {"checkpoint": 1, "launched": "job-1"}
        # What downstream tasks, templates and the REST API read: the latest attempt, with every key.
        read = XComModel.get_many(run_id=third.run_id, dag_ids="chain", task_ids="task")
        latest = session.scalars(read.with_only_columns(xcom_entity(read).key))
        assert sorted(latest) == ["checkpoint", "launched", "second_only"]
        # A duplicate start request, as a worker whose request was retried sends: nothing is copied twice.
        assert _start(client, third)["xcom_keys_to_clear"] == []
        assert _xcoms(session, third) == {"checkpoint": 2, "launched": "job-1", "second_only": "x"}

    def test_mapped_task_instances_keep_their_own(self, client, session, dag_maker):
        with dag_maker("mapped", serialized=True, schedule=None):
            PythonOperator.partial(
                task_id="task",
                python_callable=_noop,
                retries=1,
                retry_delay=timedelta(0),
                persist_xcom_through_retry=True,
            ).expand(op_args=[[0], [1]])
        dag_maker.create_dagrun()
        _schedule_and_queue(dag_maker, session)
        for map_index in (0, 1):
            ti = _get_ti(session, "mapped", map_index)
            _start(client, ti)
            _push_xcoms(session, ti, checkpoint=f"of {map_index}")
            _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)

        for map_index in (0, 1):
            ti = _get_ti(session, "mapped", map_index)
            assert _start(client, ti)["xcom_keys_to_clear"] == []
            assert _xcoms(session, ti) == {"checkpoint": f"of {map_index}"}

    def test_loop_iterations_keep_their_own(self, client, session, dag_maker):
        """Each iteration of a loop is its own coordinate: a retry of the second sees only its own."""

        @task_group
        def body():
            PythonOperator(
                task_id="work",
                python_callable=_noop,
                retries=1,
                retry_delay=timedelta(0),
                persist_xcom_through_retry=True,
            )

        with dag_maker("looped", serialized=True, schedule=None):
            create_loop(body, max_iterations=2)
        dag_maker.create_dagrun()

        def current(task_id: str) -> TaskInstance:
            session.expire_all()
            return session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == "looped",
                    TaskInstance.task_id == task_id,
                    TaskInstance.state == TaskInstanceState.QUEUED,
                )
            ).one()

        _schedule_and_queue(dag_maker, session)
        first = current("body.work")
        _start(client, first)
        _push_xcoms(session, first, checkpoint="iteration 0")
        _patch_state(client, first, "success")
        _schedule_and_queue(dag_maker, session)
        gate = current("body.__loop_gate")
        _start(client, gate)
        _patch_state(client, gate, "success", loop_decision={"stop": False})
        _schedule_and_queue(dag_maker, session)
        second = current("body.work")
        assert second.region_index == 1
        _start(client, second)
        _push_xcoms(session, second, checkpoint="iteration 1")
        _patch_state(client, second, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        retry = current("body.work")

        assert _start(client, retry)["xcom_keys_to_clear"] == []
        assert (retry.region_index, retry.try_number) == (1, 2)
        assert _xcoms(session, retry) == {"checkpoint": "iteration 1"}

    @pytest.mark.parametrize(
        ("previous_max_tries", "max_tries", "kept"),
        [
            pytest.param(2, 2, True, id="waiting-for-retry"),
            pytest.param(2, 3, False, id="cleared-before-the-upgrade"),
            # retries went from 3 to 2, and the clear at try 1 set max_tries to 1 + 2, where it was.
            pytest.param(3, 3, False, id="cleared-before-the-upgrade-after-lowering-retries"),
        ],
    )
    def test_pre_3_4_values_after_upgrade(
        self, client, session, dag_maker, previous_max_tries, max_tries, kept
    ):
        """
        A task instance waits for its retry while the deployment moves from 3.3, with its checkpoint.

        Migration 0142 keeps the 3.3 task instance row as the current attempt, gives it the task's
        ``xcom_v1`` rows through ``legacy_task_data_owner``, and archives the earlier tries from
        ``task_instance_history`` with the reason ``legacy``. A 3.3 clear had set ``max_tries`` to its
        try number plus ``retries``, so try 2 is then the clear's first try.
        """
        dag_run = _make_dag(dag_maker, "upgraded")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "upgraded")
        _start(client, ti)
        _patch_state(client, ti, "up_for_retry")
        previous, ti = _get_attempts(session, "upgraded")
        previous.archived_reason = "legacy"
        previous.max_tries, ti.max_tries = previous_max_tries, max_tries
        _own_pre_3_4_checkpoint(session, dag_run, ti)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "upgraded")

        assert _start(client, ti)["xcom_keys_to_clear"] == ([] if kept else ["checkpoint"])
        if kept:
            # The next retry carries the pre-3.4 value forward as well.
            _patch_state(client, ti, "up_for_retry")
            _schedule_and_queue(dag_maker, session)
            ti = _get_ti(session, "upgraded")
            assert _start(client, ti)["xcom_keys_to_clear"] == []
            assert _xcoms(session, ti) == {"checkpoint": 500}

    @staticmethod
    def _count_start(client, exec_app, ti, api_version: str | None) -> int:
        """Statements of a start, with the API server's Dag cache cold as after a restart of it."""
        exec_app.state.dag_bag.clear_cache()
        if api_version:
            client.headers["Airflow-API-Version"] = api_version
        try:
            with count_queries() as statements:
                _start(client, ti)
        finally:
            client.headers.pop("Airflow-API-Version", None)
        return len(statements)

    def _count_starts(
        self, client, exec_app, session, dag_maker, api_version, *, flagged, keys=1
    ) -> dict[str, int]:
        """Statements of a first try, of a retry and of a start after a reschedule, each holding ``keys``."""
        counts = {}
        dag_id = f"statements_{flagged}_{keys}"
        _make_dag(dag_maker, dag_id, persist_xcom_through_retry=flagged)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, dag_id)
        counts["first try"] = self._count_start(client, exec_app, ti, api_version)
        _push_xcoms(session, ti, **{f"key_{i}": i for i in range(keys)})
        _patch_state(client, ti, "up_for_reschedule", reschedule_date="2024-10-31T12:06:00Z")
        _schedule_and_queue(dag_maker, session)
        counts["reschedule"] = self._count_start(client, exec_app, ti, api_version)
        _patch_state(client, ti, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, dag_id)
        counts["retry"] = self._count_start(client, exec_app, ti, api_version)
        # A worker on an older Execution API version starts the retry as without the flag.
        assert len(_xcoms(session, ti)) == (keys if flagged and api_version is None else 0)
        return counts

    @pytest.mark.parametrize("api_version", [None, "2026-06-30"], ids=["head", "2026-06-30"])
    def test_statement_count_without_the_flag(self, client, exec_app, session, dag_maker, api_version):
        """
        A task without the flag costs the statements it costs in a release without it, for a worker on
        either version. Only a start that holds XComs reads the flag, from the Dag the start loads anyway.
        """
        counts = self._count_starts(client, exec_app, session, dag_maker, api_version, flagged=False)

        assert counts == UNFLAGGED_START_STATEMENTS[api_version], counts

    @pytest.mark.parametrize("api_version", [None, "2026-06-30"], ids=["head", "2026-06-30"])
    def test_statement_count(self, client, exec_app, session, dag_maker, api_version):
        """
        A flagged start costs at most one statement more than an unflagged one, however many XComs its
        retry carries: they were copied in bulk when the retry was scheduled.
        """
        counts = {
            keys: self._count_starts(
                client, exec_app, session, dag_maker, api_version, flagged=True, keys=keys
            )
            for keys in (1, 20)
        }
        unflagged = UNFLAGGED_START_STATEMENTS[api_version]

        assert counts[1] == counts[20], counts
        assert counts[1]["first try"] == unflagged["first try"], counts
        assert counts[1]["retry"] <= unflagged["retry"] + 1, counts
        assert counts[1]["reschedule"] <= unflagged["reschedule"] + 1, counts


def _trigger_reported_failure(client, session, dag_maker, ti):
    """The task defers, and its trigger ends it with a failure while it has retries left."""
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TaskFailedEvent

    response = client.patch(
        f"/execution/task-instances/{ti.id}/state",
        json={
            "state": "deferred",
            "classpath": "airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            "trigger_kwargs": {"moment": "2024-10-31T12:10:00Z", "end_from_trigger": True},
            "next_method": "execute_complete",
        },
    )
    assert response.status_code == 204, response.text
    Trigger.submit_event(_get_ti(session, ti.dag_id).trigger_id, TaskFailedEvent(), session=session)
    session.commit()


def _make_mapped_dag(dag_maker, dag_id: str, *, items: int) -> None:
    with dag_maker(dag_id, serialized=True, schedule=None):
        PythonOperator.partial(
            task_id="task",
            python_callable=_noop,
            retries=1,
            retry_delay=timedelta(0),
            persist_xcom_through_retry=True,
        ).expand(op_args=[[i] for i in range(items)])


def _removed_and_restored(client, session, dag_maker) -> None:
    """
    Map index 1 of a flagged mapped task pushes a checkpoint and succeeds; a Dag edit drops it, and a
    later edit brings it back.

    The scheduler checks a running Dag run against every new version of its Dag.
    """
    _make_mapped_dag(dag_maker, "restored", items=2)
    dag_maker.create_dagrun()
    _schedule_and_queue(dag_maker, session)
    ti = _get_ti(session, "restored", map_index=1)
    _start(client, ti)
    _push_xcoms(session, ti, checkpoint=500)
    _patch_state(client, ti, "success")
    scheduler = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])
    for items in (1, 2):
        _make_mapped_dag(dag_maker, ti.dag_id, items=items)
        session.expire_all()
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == ti.dag_id)).one()
        assert scheduler._verify_integrity_if_dag_changed(dag_run, session=session)
        session.commit()
        if items == 1:
            assert _get_ti(session, ti.dag_id, ti.map_index).state == TaskInstanceState.REMOVED


class TestArchivedReason:
    """Each path that archives an attempt records why; only Airflow retrying the same work reads ``retry``."""

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
        clear_db_jobs()

    @pytest.mark.parametrize(
        ("archive", "reason"),
        [
            pytest.param(_task_raised, "retry", id="execution-api-retry"),
            pytest.param(_executor_reported_failure, "retry", id="executor-reported-failure"),
            pytest.param(_heartbeat_timed_out, "retry", id="heartbeat-timeout"),
            pytest.param(_orphaned_by_a_dead_scheduler, "retry", id="reset-orphaned-task-instance"),
            pytest.param(_trigger_reported_failure, "retry", id="trigger-reported-failure"),
            pytest.param(_cleared_after("success"), "clear", id="clear"),
            pytest.param(
                _cleared_while_running_then_reported(TaskInstanceState.SUCCESS),
                "clear",
                id="restart-after-clear-while-running",
            ),
        ],
    )
    def test_reason(self, client, session, dag_maker, archive, reason):
        _make_dag(dag_maker, "archived")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "archived")
        _start(client, ti)

        archive(client, session, dag_maker, ti)

        assert [a.archived_reason for a in _get_attempts(session, "archived")] == [reason, None]

    def test_restored_task_instance(self, client, session, dag_maker):
        _removed_and_restored(client, session, dag_maker)

        assert [a.archived_reason for a in _get_attempts(session, "restored", map_index=1)] == [
            "restored",
            None,
        ]

    def test_restored_task_instance_starts_fresh(self, client, session, dag_maker):
        """A task instance a Dag edit restores is new work, not a retry: it starts without XComs."""
        _removed_and_restored(client, session, dag_maker)

        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "restored", map_index=1)
        assert ti.state == TaskInstanceState.QUEUED
        assert (_start(client, ti)["xcom_keys_to_clear"], _xcoms(session, ti)) == ([], {})


# The reads a runtime sends for a pull that names no map index: the Go SDK's single-value GET (no map_index
# query parameter), the Python Task SDK's whole sequence (``/slice``) and its sequence length (HEAD), a
# sequence item. An explicit map index is read as asked.
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
            XComModel.set_for_attempt(
                task_instance_id=ti.id, key="checkpoint", value=ti.map_index, serialize=False, session=session
            )
        session.commit()
        requester = _get_ti(session, "own_map_index", map_index=1)

        status_code, body = read_as(requester, method, task_id, suffix, params)

        if method == "get" and not suffix and not params and not own:
            # Unnamed, the map index is -1, where a mapped task has no value.
            assert status_code == 404
        else:
            assert (status_code, body) == (200, expected([1] if own else [0, 1, 2]))


class TestDeleteXCom:
    """
    ``DELETE /execution/xcoms/...`` says whether another attempt of the task instance still holds the value.

    A flagged retry starts with copies of its predecessor's rows, which name the same stored values; the
    worker purges what it deletes from a custom XCom backend only when no other attempt holds it.
    """

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
        clear_db_jobs()

    @pytest.fixture
    def delete_as(self, client, exec_app):
        """Send the deletion with the identity token of the task instance ``ti``, as its worker would."""
        from airflow.api_fastapi.execution_api.datamodels.token import TIClaims, TIToken
        from airflow.api_fastapi.execution_api.security import _REQUEST_SCOPE_TOKEN_KEY, _jwt_bearer

        original_override = exec_app.dependency_overrides[_jwt_bearer]
        app_type = type(client.app)
        original_call = app_type.__call__

        def delete(ti: TaskInstance, key: str, api_version: str | None = None) -> dict:
            token = TIToken(id=ti.id, claims=TIClaims(sub=str(ti.id), scope="execution"))

            async def call_as_ti(app, scope, receive, send):
                # The routes of older versions get copies of their dependencies, which the override below
                # misses; their JWT bearer hands back the token it finds in the request scope.
                scope[_REQUEST_SCOPE_TOKEN_KEY] = token
                await original_call(app, scope, receive, send)

            exec_app.dependency_overrides[_jwt_bearer] = lambda: token
            with mock.patch.object(app_type, "__call__", call_as_ti):
                response = client.delete(
                    f"/execution/xcoms/{ti.dag_id}/{ti.run_id}/{ti.task_id}/{key}",
                    headers={"Airflow-API-Version": api_version} if api_version else None,
                )
            assert response.status_code == 200, response.text
            return response.json()

        yield delete
        exec_app.dependency_overrides[_jwt_bearer] = original_override

    @pytest.mark.parametrize(
        ("key", "held_by_another_attempt"),
        [
            pytest.param("checkpoint", True, id="copied-from-the-previous-attempt"),
            pytest.param("return_value", False, id="copied-then-overwritten"),
            pytest.param("own", False, id="pushed-by-the-attempt"),
        ],
    )
    def test_delete(self, client, delete_as, session, dag_maker, key, held_by_another_attempt):
        first, ti, _ = _start_again(client, session, dag_maker, "delete", _task_raised)
        _push_xcoms(session, ti, return_value="second", own="x")

        assert delete_as(ti, key) == {
            "message": f"XCom with key: {key} successfully deleted.",
            "held_by_another_attempt": held_by_another_attempt,
        }
        assert key not in _xcoms(session, ti)
        # The archived attempt keeps its own record, whatever its successor deletes.
        assert _xcoms(session, first) == {"checkpoint": 500, "return_value": "first"}

    def test_delete_of_a_pre_3_4_value_carried_forward(self, client, delete_as, session, dag_maker):
        """The previous attempt holds the value in ``xcom_v1``, as the upgrade from 3.3 leaves it."""
        dag_run = _make_dag(dag_maker, "upgraded")
        _schedule_and_queue(dag_maker, session)
        first = _get_ti(session, "upgraded")
        _start(client, first)
        _own_pre_3_4_checkpoint(session, dag_run, first)
        _patch_state(client, first, "up_for_retry")
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "upgraded")
        _start(client, ti)

        assert delete_as(ti, "checkpoint")["held_by_another_attempt"] is True
        assert _xcoms(session, ti) == {}
        assert _xcoms(session, first) == {"checkpoint": 500}

    @pytest.mark.parametrize("api_version", ["2026-10-30", "2026-06-30"])
    def test_previous_api_version(self, client, delete_as, session, dag_maker, api_version):
        """A worker not upgraded yet gets the response it got before, and purges as before."""
        first, ti, _ = _start_again(client, session, dag_maker, "delete", _task_raised)

        assert delete_as(ti, "checkpoint", api_version) == {
            "message": "XCom with key: checkpoint successfully deleted."
        }
        assert _xcoms(session, ti) == {"return_value": "first"}
        assert _xcoms(session, first) == {"checkpoint": 500, "return_value": "first"}
