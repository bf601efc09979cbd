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
Serialization of ``persist_xcom_through_retry``.

The field is left out when False, so a Dag that does not use it serializes as it did before the
field existed (no new Dag version on upgrade); True round-trips for operators, decorated tasks and
mapped tasks, where it lives in ``partial_kwargs``. A value that is not a bool is rejected when the
Dag file is parsed, by the type check of ``BaseOperator``'s arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jsonschema
import pytest

from airflow.models.serialized_dag import SerializedDagModel
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, TaskGroup, task, task_group, timezone
from airflow.serialization.definitions.baseoperator import SerializedBaseOperator
from airflow.serialization.definitions.mappedoperator import SerializedMappedOperator
from airflow.serialization.json_schema import load_dag_schema_dict
from airflow.serialization.serialized_objects import DagSerialization, OperatorSerialization

FIELD = "persist_xcom_through_retry"
DEFAULT_DATE = timezone.datetime(2024, 1, 1)


def _noop(*_, **__):
    return None


def _keys(obj: Any) -> Iterator[str]:
    """Every dict key anywhere in a JSON-like structure."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _keys(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _keys(item)


def _serialized_tasks(data: dict) -> dict[str, dict]:
    return {t["__var"]["task_id"]: t["__var"] for t in data["dag"]["tasks"]}


def _representative_dag(dag_id: str = "representative", **flag) -> DAG:
    """
    Build a Dag with many kinds of tasks: operators, sensors, decorated, mapped and grouped ones.

    ``flag`` (``persist_xcom_through_retry=...``), if given, is passed to every task, every
    ``partial()`` and to ``default_args``.
    """
    default_args: dict[str, Any] = {"owner": "data", "retries": 2, "retry_delay": timedelta(minutes=1)}
    default_args.update(flag)
    with DAG(dag_id, schedule=None, start_date=DEFAULT_DATE, default_args=default_args) as dag:
        start = EmptyOperator(task_id="start", **flag)
        bash = BashOperator(task_id="bash", bash_command="echo {{ ds }}", **flag)
        python = PythonOperator(task_id="python", python_callable=_noop, op_args=[1], **flag)
        sensor = PythonSensor(
            task_id="sensor", python_callable=_noop, mode="reschedule", poke_interval=60, **flag
        )
        mapped = PythonOperator.partial(task_id="mapped", python_callable=_noop, **flag).expand(
            op_args=[[1], [2], [3]]
        )

        @task(**flag)
        def produce() -> list[int]:
            return [1, 2]

        @task(multiple_outputs=True, **flag)
        def consume(value: int) -> dict[str, int]:
            return {"value": value}

        with TaskGroup("group"):
            PythonOperator(task_id="in_group", python_callable=_noop, **flag)

        @task_group
        def mapped_group(value: int):
            consume.override(task_id="in_mapped_group")(value)

        produced = produce()
        start >> [bash, python, sensor] >> mapped
        consume.expand(value=produced)
        mapped_group.expand(value=produced)
    return dag


class TestFieldLeftOutWhenFalse:
    def test_unflagged_dag_has_no_field_anywhere(self):
        data = DagSerialization.to_dict(_representative_dag())

        assert FIELD not in set(_keys(data))

    def test_explicit_false_is_left_out(self):
        unflagged = DagSerialization.to_dict(_representative_dag())
        explicit_false = DagSerialization.to_dict(_representative_dag(persist_xcom_through_retry=False))

        assert FIELD not in set(_keys(explicit_false["dag"]["tasks"]))
        # default_args are stored as given: that is the only place an explicit False shows.
        explicit_false["dag"]["default_args"]["__var"].pop(FIELD)
        assert explicit_false == unflagged
        assert SerializedDagModel.hash(explicit_false) == SerializedDagModel.hash(unflagged)


class TestFlagRoundTrips:
    def test_operator(self):
        with DAG("flagged_operator", schedule=None, start_date=DEFAULT_DATE) as dag:
            PythonOperator(task_id="flagged", python_callable=_noop, persist_xcom_through_retry=True)
            PythonOperator(task_id="unflagged", python_callable=_noop)

        data = DagSerialization.to_dict(dag)
        tasks = _serialized_tasks(data)
        deserialized = DagSerialization.from_dict(data)

        assert tasks["flagged"][FIELD] is True
        assert FIELD not in tasks["unflagged"]
        assert isinstance(deserialized.task_dict["flagged"], SerializedBaseOperator)
        assert deserialized.task_dict["flagged"].persist_xcom_through_retry is True
        assert deserialized.task_dict["unflagged"].persist_xcom_through_retry is False

    def test_single_operator_serialization(self):
        op = BashOperator(task_id="flagged", bash_command="true", persist_xcom_through_retry=True)

        blob = OperatorSerialization.serialize_operator(op)
        serialized_op = OperatorSerialization.deserialize_operator(blob)

        assert blob[FIELD] is True
        assert serialized_op.persist_xcom_through_retry is True

    def test_decorated_task(self):
        with DAG("flagged_decorated", schedule=None, start_date=DEFAULT_DATE) as dag:

            @task(persist_xcom_through_retry=True)
            def flagged():
                return 1

            flagged()

        deserialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))

        assert deserialized.task_dict["flagged"].persist_xcom_through_retry is True

    def test_default_args_and_task_override(self):
        with DAG(
            "flagged_default_args",
            schedule=None,
            start_date=DEFAULT_DATE,
            default_args={FIELD: True},
        ) as dag:
            PythonOperator(task_id="inherits", python_callable=_noop)
            PythonOperator(task_id="opts_out", python_callable=_noop, persist_xcom_through_retry=False)

        deserialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))

        assert deserialized.task_dict["inherits"].persist_xcom_through_retry is True
        assert deserialized.task_dict["opts_out"].persist_xcom_through_retry is False

    def test_mapped_operator_keeps_flag_in_partial_kwargs(self):
        with DAG("flagged_mapped", schedule=None, start_date=DEFAULT_DATE) as dag:
            PythonOperator.partial(
                task_id="flagged", python_callable=_noop, persist_xcom_through_retry=True
            ).expand(op_args=[[1], [2]])
            PythonOperator.partial(task_id="unflagged", python_callable=_noop).expand(op_args=[[1], [2]])

        data = DagSerialization.to_dict(dag)
        tasks = _serialized_tasks(data)
        deserialized = DagSerialization.from_dict(data)

        assert tasks["flagged"]["partial_kwargs"][FIELD] is True
        assert FIELD not in tasks["flagged"]
        assert FIELD not in set(_keys(tasks["unflagged"]))
        flagged = deserialized.task_dict["flagged"]
        assert isinstance(flagged, SerializedMappedOperator)
        assert flagged.partial_kwargs[FIELD] is True
        assert flagged.persist_xcom_through_retry is True
        assert deserialized.task_dict["unflagged"].persist_xcom_through_retry is False

    def test_mapped_decorated_task(self):
        with DAG("flagged_mapped_decorated", schedule=None, start_date=DEFAULT_DATE) as dag:

            @task(persist_xcom_through_retry=True)
            def flagged(value):
                return value

            flagged.expand(value=[1, 2])

        data = DagSerialization.to_dict(dag)
        deserialized = DagSerialization.from_dict(data)

        assert _serialized_tasks(data)["flagged"]["partial_kwargs"][FIELD] is True
        assert deserialized.task_dict["flagged"].persist_xcom_through_retry is True


def _parse_task(how: str, value: Any) -> None:
    """Define a task whose ``persist_xcom_through_retry`` is ``value``, given as ``how`` says."""
    if how == "decorator":

        @task(persist_xcom_through_retry=value)
        def flagged():
            return 1

        return
    default_args = {FIELD: value} if how == "default_args" else {}
    with DAG("parsed", schedule=None, start_date=DEFAULT_DATE, default_args=default_args):
        if how == "operator":
            PythonOperator(task_id="flagged", python_callable=_noop, persist_xcom_through_retry=value)
        elif how == "default_args":
            PythonOperator(task_id="flagged", python_callable=_noop)
        else:
            PythonOperator.partial(
                task_id="flagged", python_callable=_noop, persist_xcom_through_retry=value
            ).expand(op_args=[[1], [2]])


class TestRejectedAtParseTime:
    """The argument is checked with ``BaseOperator``'s others, and the error names it."""

    @pytest.mark.parametrize("value", ["yes", 1], ids=["str", "int"])
    @pytest.mark.parametrize("how", ["operator", "default_args", "decorator", "partial"])
    def test_non_bool_is_rejected(self, how, value):
        with pytest.raises(TypeError, match="'persist_xcom_through_retry'.* got .*(str|int)"):
            _parse_task(how, value)

    def test_none_is_not_flagged(self):
        # As for BaseOperator's other bool arguments, None passes the type check; it flags nothing.
        with DAG("none", schedule=None, start_date=DEFAULT_DATE) as dag:
            PythonOperator(task_id="task", python_callable=_noop, persist_xcom_through_retry=None)
            PythonOperator.partial(
                task_id="mapped", python_callable=_noop, persist_xcom_through_retry=None
            ).expand(op_args=[[1], [2]])

        deserialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))

        assert not deserialized.task_dict["task"].persist_xcom_through_retry
        assert not deserialized.task_dict["mapped"].persist_xcom_through_retry


class TestSchema:
    def test_field_is_a_boolean_defaulting_to_false(self):
        assert load_dag_schema_dict()["definitions"]["operator"]["properties"][FIELD] == {
            "type": "boolean",
            "default": False,
        }
        assert DagSerialization.get_schema_defaults("operator")[FIELD] is False
        assert FIELD in SerializedBaseOperator.get_serialized_fields()

    def test_flagged_dag_validates(self):
        data = DagSerialization.to_dict(_representative_dag(persist_xcom_through_retry=True))

        DagSerialization.validate_schema(data)
        # validate_schema does not descend into the tasks (the ``tasks`` definition constrains
        # ``additionalProperties`` of an array), so check the values against the field's own schema.
        field_schema = load_dag_schema_dict()["definitions"]["operator"]["properties"][FIELD]
        values = [
            t.get(FIELD, t.get("partial_kwargs", {}).get(FIELD)) for t in _serialized_tasks(data).values()
        ]
        assert values
        assert set(values) == {True}
        for value in values:
            jsonschema.validate(value, field_schema)


def test_dag_serialized_without_the_field_deserializes_to_false():
    """A Dag serialized before the field existed has none: every task reads as not flagged."""
    data = DagSerialization.to_dict(_representative_dag())
    assert FIELD not in set(_keys(data))

    deserialized = DagSerialization.from_dict(copy.deepcopy(data))

    assert {task_id: t.persist_xcom_through_retry for task_id, t in deserialized.task_dict.items()} == {
        task_id: False for task_id in deserialized.task_dict
    }
    assert isinstance(deserialized.task_dict["mapped"], SerializedMappedOperator)
