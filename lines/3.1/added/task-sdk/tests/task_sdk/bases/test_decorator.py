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
from __future__ import annotations

import pytest

from airflow.sdk import DAG, task
from airflow.sdk.definitions.mappedoperator import MappedOperator


class TestPersistXComThroughRetry:
    @pytest.mark.parametrize(
        ("decorator_kwargs", "expected"),
        [
            pytest.param({}, False, id="default"),
            pytest.param({"persist_xcom_through_retry": True}, True, id="enabled"),
            pytest.param({"persist_xcom_through_retry": False}, False, id="disabled"),
        ],
    )
    @pytest.mark.parametrize("decorator_name", [None, "python", "short_circuit", "branch", "bash"])
    def test_decorator_sets_flag(self, decorator_name, decorator_kwargs, expected):
        decorator = task if decorator_name is None else getattr(task, decorator_name)

        with DAG("test-dag", schedule=None) as dag:

            @decorator(**decorator_kwargs)
            def my_task():
                return "true"

            my_task()

        assert dag.get_task("my_task").persist_xcom_through_retry is expected

    def test_override_sets_flag(self):
        @task
        def my_task():
            return 1

        with DAG("test-dag", schedule=None) as dag:
            my_task()
            my_task.override(task_id="flagged", persist_xcom_through_retry=True)()

        assert dag.get_task("my_task").persist_xcom_through_retry is False
        assert dag.get_task("flagged").persist_xcom_through_retry is True

    @pytest.mark.parametrize("value", ["x", 1, None])
    def test_rejects_non_bool(self, value):
        @task
        def my_task():
            return 1

        with DAG("test-dag", schedule=None):
            with pytest.raises(TypeError, match="'persist_xcom_through_retry' for task 'my_task' expects"):
                my_task.override(persist_xcom_through_retry=value)()

    @pytest.mark.parametrize(
        ("decorator_kwargs", "expected"),
        [
            pytest.param({}, False, id="default"),
            pytest.param({"persist_xcom_through_retry": True}, True, id="enabled"),
        ],
    )
    def test_mapped_task_carries_flag(self, decorator_kwargs, expected):
        @task(**decorator_kwargs)
        def my_task(x, y):
            return x + y

        with DAG("test-dag", schedule=None):
            partial_expand = my_task.partial(y=1).expand(x=[1, 2]).operator
            expand_kwargs = my_task.override(task_id="kwargs").expand_kwargs([{"x": 1, "y": 2}]).operator

        for mapped in (partial_expand, expand_kwargs):
            # The worker reads the flag before unmapping, from the partial arguments.
            assert isinstance(mapped, MappedOperator)
            assert mapped.persist_xcom_through_retry is expected
            unmapped = mapped.unmap({"op_kwargs": {"x": 1, "y": 2}})
            assert unmapped.persist_xcom_through_retry is expected

    def test_mapped_task_rejects_non_bool_from_default_args(self):
        @task
        def my_task(x):
            return x

        with DAG("test-dag", schedule=None, default_args={"persist_xcom_through_retry": "yes"}):
            with pytest.raises(TypeError, match="'persist_xcom_through_retry' for task 'my_task' expects"):
                my_task.expand(x=[1, 2])
