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
Root conftest for airflow-core tests run against installed wheels, without upstream's devel-common.

Before anything imports Airflow it points ``AIRFLOW_HOME`` at a fresh temporary directory and turns
on ``[core] unit_test_mode``, so the metadata database is a throwaway SQLite file in that directory.
To run against another database set ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (for example a
``postgresql+psycopg2://`` URL): that database is RESET (every Airflow table dropped and created
again) once per test session, before the first ``db_test``.

Fixtures, with the semantics of upstream's ``tests_common.pytest_plugin``:

``session``
    the thread's scoped ORM session (the one ``dag_maker.session`` also uses); whatever the test
    left uncommitted is rolled back afterwards and the session closed;
``dag_maker``
    see ``tests_common.test_utils.dag_maker``; rows it wrote are deleted after the test.
``create_task_instance``
    a Dag of one ``EmptyOperator`` made with ``dag_maker``, a run of it, and that run's task instance
    with the state and attributes given (upstream's arguments and defaults, those the series'
    tests and the upstream tests it runs use).

Marker: ``db_test`` for tests that need the database (initialised on first use).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-core-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "plugins")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db_test: the test reads or writes the Airflow metadata database")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def _initialized_db():
    from tests_common.test_utils.db import initial_db_init

    initial_db_init()


@pytest.fixture(autouse=True)
def _db_for_db_tests(request: pytest.FixtureRequest):
    if request.node.get_closest_marker("db_test"):
        request.getfixturevalue("_initialized_db")


@pytest.fixture
def session(_initialized_db):
    from airflow.utils.session import create_session

    with create_session() as session:
        yield session
        session.rollback()


@pytest.fixture
def dag_maker(request: pytest.FixtureRequest, _initialized_db):
    from tests_common.test_utils.dag_maker import DagMaker

    maker = DagMaker(
        module_file=request.module.__file__,
        default_date=getattr(request.module, "DEFAULT_DATE", None),
    )
    try:
        yield maker
    finally:
        maker.cleanup()


@pytest.fixture
def create_task_instance(dag_maker):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import timezone

    def maker(
        logical_date=None,
        run_after=None,
        dagrun_state=None,
        state=None,
        run_id=None,
        run_type=None,
        data_interval=None,
        external_executor_id=None,
        dag_id="dag",
        task_id="op1",
        max_active_tis_per_dag=16,
        max_active_tis_per_dagrun=None,
        pool="default_pool",
        executor_config=None,
        trigger_rule="all_done",
        map_index=-1,
        hostname=None,
        pid=None,
        last_heartbeat_at=None,
        **kwargs,
    ):
        logical_date = logical_date or timezone.utcnow()
        with dag_maker(dag_id, **kwargs):
            task = EmptyOperator(
                task_id=task_id,
                max_active_tis_per_dag=max_active_tis_per_dag,
                max_active_tis_per_dagrun=max_active_tis_per_dagrun,
                executor_config=executor_config or {},
                pool=pool,
                trigger_rule=trigger_rule,
            )
        dagrun_kwargs = {"logical_date": logical_date, "run_after": run_after or timezone.utcnow()}
        for name, value in (
            ("state", dagrun_state),
            ("run_id", run_id),
            ("run_type", run_type),
            ("data_interval", data_interval),
        ):
            if value is not None:
                dagrun_kwargs[name] = value
        dagrun = dag_maker.create_dagrun(**dagrun_kwargs)
        (ti,) = dagrun.task_instances
        ti.task = task
        ti.state = state
        ti.external_executor_id = external_executor_id
        ti.map_index = map_index
        ti.hostname = hostname or ""
        ti.pid = pid
        ti.last_heartbeat_at = last_heartbeat_at
        dag_maker.session.flush()
        return ti

    return maker
