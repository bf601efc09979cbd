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
A small ``dag_maker`` with the semantics of upstream's fixture (``tests_common.pytest_plugin``).

Usage, as upstream::

    with dag_maker("my_dag", serialized=True) as dag:
        EmptyOperator(task_id="op")
    dr = dag_maker.create_dagrun()  # run_id "test", state RUNNING, manual, logical date = start date
    dag_maker.session  # the (scoped) ORM session everything was written with

On leaving the ``with`` block the DAG is serialized and written to the ``dag``, ``dag_version``
and ``serialized_dag`` tables, as the DAG processor would. With ``serialized=True`` the object
bound by ``as`` is (once the block is left) the scheduler-side ``SerializedDAG``; otherwise it is
the Task SDK DAG. ``dag_maker.serialized_dag`` is always the ``SerializedDAG``. ``cleanup()``
deletes every row written for the DAGs this maker created.

Not provided (unlike upstream): ``run_ti``, ``create_dagrun_after``, asset activation, FAB
permissions and the ``need_serialized_dag`` marker.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG
    from airflow.serialization.definitions.dag import SerializedDAG


class DagMaker:
    """Create a DAG, write it to the DB as the DAG processor would, and create runs of it."""

    dag: DAG
    serialized_dag: SerializedDAG
    session: Session

    def __init__(self, module_file: str, default_date: datetime.datetime | None = None):
        self._module_file = module_file
        self._default_date = default_date
        self._dag_ids: set[str] = set()
        self._own_session = False
        self.dag_run: DagRun | None = None

    def __call__(
        self,
        dag_id: str = "test_dag",
        schedule: Any = datetime.timedelta(days=1),
        serialized: bool = False,
        fileloc: str | None = None,
        bundle_name: str = "dag_maker",
        session: Session | None = None,
        **kwargs,
    ) -> DagMaker:
        from airflow import settings
        from airflow.sdk import DAG, timezone

        if session is None:
            self._own_session = True
            session = settings.Session()
        self.session = session
        self.want_serialized = serialized
        self.bundle_name = bundle_name

        default_args = kwargs.get("default_args") or {}
        self.start_date = (
            kwargs.get("start_date")
            or default_args.get("start_date")
            or self._default_date
            or timezone.datetime(2016, 1, 1)
        )
        kwargs["start_date"] = self.start_date
        self.dag = DAG(dag_id, schedule=schedule, **kwargs)
        self.dag.fileloc = fileloc or self._module_file
        self.dag.relative_fileloc = Path(self.dag.fileloc).name
        self._dag_ids.add(dag_id)
        return self

    def __enter__(self):
        import lazy_object_proxy

        self.dag.__enter__()
        if self.want_serialized:
            # Resolved on first use, i.e. after the block has written the DAG.
            return lazy_object_proxy.Proxy(lambda: self.serialized_dag)
        return self.dag

    def __exit__(self, exc_type, exc, tb):
        from tests_common.test_utils.dag import sync_dag_to_db

        self.dag.__exit__(exc_type, exc, tb)
        if exc_type is not None:
            return
        self.serialized_dag = sync_dag_to_db(self.dag, bundle_name=self.bundle_name, session=self.session)
        self.session.commit()

    def create_dagrun(self, *, logical_date: Any = "NOTSET", **kwargs) -> DagRun:
        """
        Create a run of the DAG, as upstream's ``dag_maker.create_dagrun``.

        Defaults: ``run_id="test"`` (unless ``run_type`` is given), ``state=RUNNING``, manual run
        with the DAG's start date as logical date, ``triggered_by=TEST``. Commits.
        """
        from airflow.sdk import timezone
        from airflow.utils.state import DagRunState
        from airflow.utils.types import DagRunTriggeredByType, DagRunType

        dag = self.serialized_dag
        run_type = DagRunType(kwargs.get("run_type", DagRunType.MANUAL))
        if logical_date == "NOTSET":
            logical_date = self.start_date
        logical_date = timezone.coerce_datetime(logical_date)
        data_interval = kwargs.pop("data_interval", None)
        if data_interval is None and logical_date is not None:
            data_interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
        if "run_id" not in kwargs:
            if "run_type" in kwargs:
                kwargs["run_id"] = dag.timetable.generate_run_id(
                    run_type=run_type,
                    run_after=logical_date or timezone.utcnow(),
                    data_interval=data_interval,
                )
            else:
                kwargs["run_id"] = "test"
        kwargs.update(
            run_type=run_type,
            logical_date=logical_date,
            data_interval=data_interval,
        )
        kwargs.setdefault("state", DagRunState.RUNNING)
        kwargs.setdefault("start_date", self.start_date)
        kwargs.setdefault("triggered_by", DagRunTriggeredByType.TEST)
        kwargs.setdefault("run_after", data_interval[-1] if data_interval else timezone.utcnow())
        kwargs.setdefault("session", self.session)
        self.dag_run = dag.create_dagrun(**kwargs)
        self.session.commit()
        return self.dag_run

    def cleanup(self) -> None:
        """Delete every row written for the DAGs created by this maker."""
        if not self._dag_ids:
            return
        from sqlalchemy import delete, select

        from airflow.models.dag import DagModel, DagTag
        from airflow.models.dag_version import DagVersion
        from airflow.models.dagcode import DagCode
        from airflow.models.dagrun import DagRun
        from airflow.models.log import Log
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.taskreschedule import TaskReschedule
        from airflow.models.trigger import Trigger

        from tests_common.test_utils.db import attempt_models, xcom_models

        dag_ids = sorted(self._dag_ids)
        session = self.session
        session.rollback()
        # Core statements on the task instance table: from 3.4 ORM statements see only the current
        # attempts, and archived attempts would be left behind.
        ti = TaskInstance.__table__
        ti_ids = select(ti.c.id).where(ti.c.dag_id.in_(dag_ids))
        trigger_ids = select(ti.c.trigger_id).where(ti.c.dag_id.in_(dag_ids))
        session.execute(delete(TaskReschedule).where(TaskReschedule.ti_id.in_(ti_ids)))
        session.execute(delete(Trigger).where(Trigger.id.in_(trigger_ids)))
        for model in xcom_models():  # from 3.4 an attempt's XComs (v2) name only their attempt
            owned = (
                model.dag_id.in_(dag_ids) if hasattr(model, "dag_id") else model.task_instance_id.in_(ti_ids)
            )
            session.execute(delete(model).where(owned))
        for model in attempt_models():
            session.execute(delete(model).where(model.dag_id.in_(dag_ids)))
        session.execute(delete(ti).where(ti.c.dag_id.in_(dag_ids)))
        for model in (DagRun, Log, SerializedDagModel, DagCode, DagVersion, DagTag, DagModel):
            session.execute(delete(model).where(model.dag_id.in_(dag_ids)))
        session.commit()
        if self._own_session:
            session.expunge_all()
