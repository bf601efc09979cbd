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
A DAG file that does not use ``persist_xcom_through_retry`` serializes byte for byte as in the
line's vanilla release (3.3.2 for the 3.3 line).

The same DAG file is parsed by an unpatched and by a patched installation, each in its own
interpreter, the way the DAG processor does it (``DagBag``, then ``DagSerialization.to_dict``, the
data written to ``serialized_dag.data``, and its ``SerializedDagModel.hash``, which decides whether
a new DAG version is created). The outputs must be the same bytes once keys are sorted: the key
order of ``to_dict`` follows set iteration order, which changes from one process to the next
even on an unpatched installation, so unsorted bytes do not identify a serialization (the hash
sorts keys too).

Interpreters come from the environment::

    VANILLA_PYTHON=/tmp/vanilla/bin/python PATCHED_PYTHON=/tmp/patched/bin/python \\
        python -m pytest tests/e2e/test_serialization_identity.py

``PATCHED_PYTHON`` defaults to the interpreter running pytest; without ``VANILLA_PYTHON`` the
test is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAG_FILE = """
from __future__ import annotations

import datetime
from importlib.metadata import version

from airflow.providers.smtp.operators.smtp import EmailOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.providers.standard.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.providers.standard.sensors.external_task import ExternalTaskSensor
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, Asset, Param, TaskGroup, setup, task, task_group, teardown

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
RETRY_BACKOFF_IS_A_MULTIPLIER = tuple(map(int, version("apache-airflow-core").split(".")[:2])) >= (3, 2)
ASSET = Asset("s3://bucket/report.csv")


def _callback(context):
    pass


def _noop(*args, **kwargs):
    return None


with DAG(
    "identity_operators",
    schedule="@daily",
    start_date=START,
    catchup=False,
    tags=["identity"],
    doc_md="A DAG with many kinds of tasks.",
    params={"limit": Param(10, type="integer")},
    max_active_runs=2,
    dagrun_timeout=datetime.timedelta(hours=2),
    default_args={
        "owner": "data",
        "retries": 3,
        "retry_delay": datetime.timedelta(minutes=2),
        # A multiplier from Airflow 3.2 on; Airflow 3.1 takes a bool.
        "retry_exponential_backoff": 2.0 if RETRY_BACKOFF_IS_A_MULTIPLIER else True,
        "email": ["data@example.com"],
        "on_failure_callback": _callback,
    },
) as dag:
    start = EmptyOperator(task_id="start")
    latest = LatestOnlyOperator(task_id="latest_only")
    bash = BashOperator(
        task_id="bash",
        bash_command="echo {{ ds }} {{ params.limit }}",
        env={"A": "1"},
        execution_timeout=datetime.timedelta(minutes=5),
        pool="default_pool",
        priority_weight=5,
        weight_rule="upstream",
        queue="fast",
        retries=0,
        depends_on_past=True,
        wait_for_downstream=True,
    )
    python = PythonOperator(
        task_id="python",
        python_callable=_noop,
        op_kwargs={"x": "{{ ds }}"},
        do_xcom_push=False,
        max_active_tis_per_dag=2,
        task_display_name="Python!",
        outlets=[ASSET],
        trigger_rule="all_done",
    )
    branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "short")
    short = ShortCircuitOperator(task_id="short", python_callable=lambda: True)
    email = EmailOperator(task_id="email", to="a@example.com", subject="s", html_content="c")
    trigger = TriggerDagRunOperator(task_id="trigger", trigger_dag_id="identity_assets")
    external = ExternalTaskSensor(task_id="external", external_dag_id="other", mode="reschedule")
    file_sensor = FileSensor(task_id="file", filepath="/tmp/x", poke_interval=30, timeout=600)
    python_sensor = PythonSensor(task_id="python_sensor", python_callable=lambda: True, mode="reschedule")
    deferrable = TimeDeltaSensor(task_id="deferrable", delta=datetime.timedelta(minutes=1), deferrable=True)
    mapped = PythonOperator.partial(task_id="mapped", python_callable=_noop, retries=1).expand(
        op_args=[[1], [2], [3]]
    )
    mapped_kwargs = BashOperator.partial(task_id="mapped_kwargs").expand_kwargs(
        [{"bash_command": "echo 1"}, {"bash_command": "echo 2", "env": {"B": "2"}}]
    )

    @task(multiple_outputs=True, inlets=[ASSET])
    def produce() -> dict:
        return {"values": [1, 2, 3]}

    @task.branch
    def choose():
        return "bash"

    @task.short_circuit
    def go_on():
        return True

    @task.bash
    def shell() -> str:
        return "echo hi"

    @task.sensor(poke_interval=10, timeout=60, mode="reschedule")
    def wait():
        return True

    @task(retries=5, map_index_template="{{ task.task_id }}")
    def consume(value):
        return value

    @setup
    def create():
        return "made"

    @teardown
    def delete():
        return None

    with TaskGroup("group", tooltip="a group") as group:
        EmptyOperator(task_id="inner") >> PythonOperator(task_id="inner_python", python_callable=_noop)

    @task_group
    def per_value(value):
        consume.override(task_id="in_mapped_group")(value)

    values = produce()
    start >> latest >> [bash, python, branch, short] >> group
    branch >> email
    short >> trigger >> external >> file_sensor >> python_sensor >> deferrable
    choose() >> go_on() >> shell() >> wait()
    consume.expand(value=[1, 2])
    per_value.expand(value=[4, 5])
    create() >> mapped >> mapped_kwargs >> delete()
    values >> consume.override(task_id="after_values")(1)


with DAG("identity_assets", schedule=[ASSET], start_date=START) as asset_dag:
    EmptyOperator(task_id="on_asset")
"""

SERIALIZE = textwrap.dedent(
    """
    import inspect, json, sys
    from pathlib import Path

    from airflow.models.serialized_dag import SerializedDagModel

    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.1: DagBag in airflow.models, SerializedDAG serializes itself
        from airflow.models.dagbag import DagBag
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization

    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    named = {"bundle_name": "identity"} if "bundle_name" in inspect.signature(DagBag).parameters else {}
    bag = DagBag(dag_folder=folder, bundle_path=folder, **named)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    with out.open("w") as f:
        for dag_id in sorted(bag.dags):
            data = DagSerialization.to_dict(bag.dags[dag_id])
            record = {"dag_id": dag_id, "hash": SerializedDagModel.hash(data), "data": data}
            f.write(json.dumps(record, sort_keys=True))
            f.write("\\n")
    """
)


def _serialize_with(python: str, dag_folder: Path, airflow_home: Path) -> bytes:
    airflow_home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    out = airflow_home / "serialized.jsonl"
    result = subprocess.run(
        [python, "-c", SERIALIZE, str(dag_folder), str(out)],
        env=env,
        cwd=airflow_home,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return out.read_bytes()


@pytest.fixture
def interpreters() -> tuple[str, str]:
    vanilla = os.environ.get("VANILLA_PYTHON")
    if not vanilla:
        pytest.skip("set VANILLA_PYTHON to the python of the line's unpatched apache-airflow installation")
    return vanilla, os.environ.get("PATCHED_PYTHON", sys.executable)


def test_unflagged_dags_serialize_identically(interpreters, tmp_path):
    vanilla, patched = interpreters
    dag_folder = tmp_path / "dags"
    dag_folder.mkdir()
    (dag_folder / "identity_dags.py").write_text(DAG_FILE)

    vanilla_out = _serialize_with(vanilla, dag_folder, tmp_path / "vanilla_home")
    patched_out = _serialize_with(patched, dag_folder, tmp_path / "patched_home")

    dags = [json.loads(line) for line in vanilla_out.splitlines()]
    assert len(dags) == 2
    assert [d["dag_id"] for d in dags] == ["identity_assets", "identity_operators"]
    assert len(dags[1]["data"]["dag"]["tasks"]) == 26
    assert "persist_xcom_through_retry" not in patched_out.decode()
    assert [json.loads(line)["hash"] for line in patched_out.splitlines()] == [d["hash"] for d in dags]
    assert patched_out == vanilla_out
