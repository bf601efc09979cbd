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
"""Write Task SDK DAGs to the metadata database the way the DAG processor does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.utils.session import NEW_SESSION, provide_session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow.sdk import DAG
    from airflow.serialization.definitions.dag import SerializedDAG


def _serialization() -> tuple[type, type]:
    """``(DagSerialization, SerializedDAG)``; before Airflow 3.2, ``SerializedDAG`` was both."""
    from tests_common.test_utils.version_compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        from airflow.serialization.definitions.dag import SerializedDAG
        from airflow.serialization.serialized_objects import DagSerialization

        return DagSerialization, SerializedDAG
    from airflow.serialization.serialized_objects import SerializedDAG

    return SerializedDAG, SerializedDAG


def create_scheduler_dag(dag: DAG) -> SerializedDAG:
    """Serialize an SDK DAG and deserialize it into the scheduler-side ``SerializedDAG``."""
    dag_serialization, _ = _serialization()
    return dag_serialization.from_dict(dag_serialization.to_dict(dag))


@provide_session
def sync_dag_to_db(dag: DAG, bundle_name: str = "testing", session: Session = NEW_SESSION) -> SerializedDAG:
    """
    Write ``dag`` to the ``dag``, ``dag_version`` and ``serialized_dag`` tables.

    The DagModel row is written by ``SerializedDAG.bulk_write_to_db`` and the serialized row by
    ``SerializedDagModel.write_dag`` (which creates the DagVersion), as the DAG processor does.
    Returns the ``SerializedDAG`` built from exactly the data that was stored.
    """
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    dag_serialization, serialized_dag = _serialization()
    session.merge(DagBundleModel(name=bundle_name))
    session.flush()
    data = dag_serialization.to_dict(dag)
    serialized_dag.bulk_write_to_db(bundle_name, None, [dag], session=session)
    SerializedDagModel.write_dag(LazyDeserializedDAG(data=data), bundle_name, session=session)
    session.flush()
    return dag_serialization.from_dict(data)
