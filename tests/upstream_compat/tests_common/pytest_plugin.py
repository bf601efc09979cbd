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
A small pytest plugin standing in for upstream's ``tests_common.pytest_plugin``.

It only carries the fixtures that the Task SDK tests use; none of them needs the metadata database.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

if TYPE_CHECKING:
    from uuid import UUID

    from airflow.sdk import BaseOperator
    from airflow.sdk.execution_time.comms import StartupDetails
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

_MARKERS = (
    "db_test: the test needs the metadata database",
    "enable_redact: keep secrets masking on while the test runs",
    "log_level(level): log level for the captured_logs fixture",
    "need_serialized_dag: upstream marker, accepted and ignored here",
    "want_activate_assets: upstream marker, accepted and ignored here",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    # The Task SDK conftest sets this upstream ini option; declare it so pytest does not warn.
    parser.addini("airflow_deprecations_ignore", "Deprecation warnings to ignore", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    for marker in _MARKERS:
        config.addinivalue_line("markers", marker)


@pytest.fixture(autouse=True)
def _enable_redact_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Secrets masking is off in tests, except for tests marked ``enable_redact``."""
    if request.node.get_closest_marker("enable_redact") is None:
        return
    from airflow._shared.secrets_masker import SecretsMasker as CoreSecretsMasker
    from airflow.sdk._shared.secrets_masker import SecretsMasker as SDKSecretsMasker

    monkeypatch.setattr(CoreSecretsMasker, "mask_secrets_in_logs", True)
    monkeypatch.setattr(SDKSecretsMasker, "mask_secrets_in_logs", True)


@pytest.fixture
def mock_supervisor_comms(monkeypatch: pytest.MonkeyPatch):
    """Replace the task runner's channel to the supervisor with an autospec'd mock and yield it."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import CommsDecoder

    comms = mock.create_autospec(CommsDecoder)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms


@pytest.fixture
def mock_xcom_backend():
    """Replace the XCom backend the task runner pushes to and pulls from with a mock."""
    with mock.patch("airflow.sdk.execution_time.task_runner.XCom", create=True) as xcom_backend:
        yield xcom_backend


@pytest.fixture
def mocked_parse(spy_agency):
    """
    Return ``set_dag(what, dag_id, task)``: build the RuntimeTaskInstance that ``parse`` would build.

    The task is attached to a fresh Dag when it has none, and ``task_runner.parse`` is stubbed to
    return the new task instance, so ``main``/``startup`` code paths can run without a Dag file.
    """
    from airflow.sdk import DAG
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance, parse

    def set_dag(what: StartupDetails, dag_id: str, task: BaseOperator) -> RuntimeTaskInstance:
        if (dag := task.get_dag()) is None:
            dag = DAG(dag_id=dag_id, start_date=datetime(2024, 12, 3))
            dag.add_task(task)
            task = dag.task_dict[task.task_id]
        if what.ti_context.dag_run.conf:
            dag.params = what.ti_context.dag_run.conf
        ti = RuntimeTaskInstance.model_construct(
            **what.ti.model_dump(exclude_unset=True),
            task=task,
            _ti_context_from_server=what.ti_context,
            max_tries=what.ti_context.max_tries,
            start_date=what.start_date,
        )
        if hasattr(parse, "spy"):
            spy_agency.unspy(parse)
        spy_agency.spy_on(parse, call_fake=lambda what, log: ti)
        return ti

    return set_dag


def _data_interval(task: BaseOperator, run_type: str, logical_date: datetime | None):
    from airflow.timetables.base import TimeRestriction

    from tests_common.test_utils.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        from airflow.serialization.encoders import coerce_to_core_timetable

        timetable = coerce_to_core_timetable(task.dag.timetable)
    else:
        # Before 3.2 a Task SDK Dag holds airflow-core's timetable itself.
        timetable = task.dag.timetable
    if run_type == "manual":
        if logical_date is None:
            return None, None
        interval = timetable.infer_manual_data_interval(run_after=logical_date)
        return interval.start, interval.end
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    if info is None:
        return None, None
    return info.data_interval.start, info.data_interval.end


@pytest.fixture
def create_runtime_ti(mocked_parse):
    """
    Return a factory that builds a ``RuntimeTaskInstance`` for an operator, without a Dag file.

    The run context is the one the API server would send for a first try of the task; pass
    ``should_retry``/``max_tries`` to change the retry decision. Tests that need more of the context
    (for example ``xcom_keys_to_clear``) can replace ``ti._ti_context_from_server`` afterwards.
    """
    from uuid6 import uuid7

    from airflow._shared.timezones import timezone
    from airflow.sdk import DAG
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, TaskInstance, TIRunContext
    from airflow.sdk.execution_time.comms import BundleInfo, StartupDetails

    from tests_common.test_utils.version_compat import AIRFLOW_V_3_2_PLUS

    def _to_datetime(value: str | datetime | None) -> datetime | None:
        if isinstance(value, str):
            return timezone.parse(value)
        return timezone.coerce_datetime(value)

    def _create_task_instance(
        task: BaseOperator,
        dag_id: str = "test_dag",
        run_id: str = "test_run",
        logical_date: str | datetime | None = "2024-12-01T01:00:00Z",
        start_date: str | datetime = "2024-12-01T01:00:00Z",
        run_type: str = "manual",
        try_number: int = 1,
        map_index: int | None = -1,
        upstream_map_indexes: dict[str, int | list[int] | None] | None = None,
        task_reschedule_count: int = 0,
        ti_id: UUID | None = None,
        conf: dict[str, Any] | None = None,
        should_retry: bool | None = None,
        max_tries: int | None = None,
    ) -> RuntimeTaskInstance:
        logical_date = _to_datetime(logical_date)
        start_date = _to_datetime(start_date)
        if task.get_dag() is None:
            DAG(dag_id=dag_id, start_date=datetime(2024, 12, 3)).add_task(task)
        dag_id = task.dag.dag_id
        data_interval_start, data_interval_end = _data_interval(task, run_type, logical_date)
        retries = task.retries or 0

        ti_context = TIRunContext(
            dag_run=DagRun(
                dag_id=dag_id,
                run_id=run_id,
                logical_date=logical_date,
                data_interval_start=data_interval_start,
                data_interval_end=data_interval_end,
                start_date=start_date,
                end_date=None,
                run_type=run_type,
                run_after=data_interval_end or logical_date or timezone.utcnow(),
                state=DagRunState.RUNNING,
                conf=conf,
                consumed_asset_events=[],
                # Execution API 2026-04-06 (Airflow 3.2) added the field.
                **({"partition_key": None} if AIRFLOW_V_3_2_PLUS else {}),
            ),
            task_reschedule_count=task_reschedule_count,
            max_tries=retries if max_tries is None else max_tries,
            should_retry=try_number <= retries if should_retry is None else should_retry,
            upstream_map_indexes=upstream_map_indexes,
        )
        startup_details = StartupDetails(
            ti=TaskInstance(
                id=ti_id or uuid7(),
                task_id=task.task_id,
                dag_id=dag_id,
                run_id=run_id,
                try_number=try_number,
                map_index=map_index,
                dag_version_id=uuid7(),
            ),
            dag_rel_path="",
            bundle_info=BundleInfo(name="anything", version="any"),
            ti_context=ti_context,
            start_date=start_date,
            sentry_integration="",
        )
        return mocked_parse(startup_details, dag_id, task)

    return _create_task_instance


@pytest.fixture
def listener_manager():
    """Return a function that registers a listener with the Task SDK; all are removed afterwards."""
    from airflow.sdk.listener import get_listener_manager

    manager = get_listener_manager()
    yield manager.add_listener
    manager.clear()


@pytest.fixture
def dag_maker():
    """
    Return a factory for Task SDK Dags, to be used as a context manager that yields the Dag.

    Upstream's fixture also writes the Dag to the metadata database; the Task SDK tests have none.
    """
    from airflow.sdk import DAG

    def _make(dag_id: str = "test_dag", **kwargs: Any) -> DAG:
        kwargs.setdefault("schedule", None)
        kwargs.setdefault("start_date", datetime(2024, 12, 3))
        return DAG(dag_id=dag_id, **kwargs)

    return _make
