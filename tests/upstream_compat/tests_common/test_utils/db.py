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
Database helpers for airflow-core tests, named as in upstream's ``tests_common.test_utils.db``.

Each ``clear_db_*`` helper deletes every row of the tables it names, in its own committed
session, so a test class can start from (and leave behind) empty tables.
"""

from __future__ import annotations

from sqlalchemy import delete

from airflow.utils.session import create_session

from tests_common.test_utils.version_compat import AIRFLOW_V_3_4_PLUS


def initial_db_init() -> None:
    """Drop and re-create every Airflow table in the configured metadata database."""
    from airflow.utils import db

    db.resetdb()


def _delete_all(*models) -> None:
    with create_session() as session:
        for model in models:
            # Core statements on each table: from 3.4 ORM statements on TaskInstance see only the
            # current attempts, and archived attempts would be left behind.
            session.execute(delete(getattr(model, "__table__", model)))


def xcom_models() -> tuple:
    """The XCom tables: from 3.4, attempt-owned values (v2) and those from before 3.4 (v1)."""
    if AIRFLOW_V_3_4_PLUS:
        from airflow.models.xcom import XComModelV1, XComModelV2

        return XComModelV2, XComModelV1
    from airflow.models.xcom import XComModel

    return (XComModel,)


def attempt_models() -> tuple:
    """A run's tables of tries besides ``task_instance``: from 3.4 the pre-3.4 owners and the regions."""
    if AIRFLOW_V_3_4_PLUS:  # every attempt is a task_instance row; regions replace task maps
        from airflow.models.dynamic_region import DynamicRegion
        from airflow.models.taskinstance import LegacyTaskDataOwner

        return LegacyTaskDataOwner, DynamicRegion
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.taskmap import TaskMap

    return TaskMap, TaskInstanceHistory


def clear_db_runs() -> None:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.models.trigger import Trigger

    _delete_all(*xcom_models(), TaskReschedule, *attempt_models(), TaskInstance, Trigger, DagRun)


def clear_db_xcom() -> None:
    _delete_all(*xcom_models())


def clear_db_logs() -> None:
    from airflow.models.log import Log

    _delete_all(Log)


def clear_db_serialized_dags() -> None:
    from airflow.models.dagcode import DagCode
    from airflow.models.serialized_dag import SerializedDagModel

    _delete_all(SerializedDagModel, DagCode)


def clear_db_dags() -> None:
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dag_version import DagVersion

    _delete_all(DagTag, DagVersion, DagModel)


def clear_db_dag_bundles() -> None:
    from airflow.models.dagbundle import DagBundleModel

    _delete_all(DagBundleModel)


def clear_db_callbacks() -> None:
    from airflow.models.db_callback_request import DbCallbackRequest

    _delete_all(DbCallbackRequest)


def clear_db_jobs() -> None:
    from airflow.jobs.job import Job

    _delete_all(Job)


def clear_db_assets() -> None:
    """Every asset table (assets, aliases, events, queues, references to Dags and tasks), dependents first."""
    from airflow.models.base import Base

    _delete_all(*(table for table in reversed(Base.metadata.sorted_tables) if "asset" in table.name))


def clear_rendered_ti_fields() -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    _delete_all(RenderedTaskInstanceFields)
