"""
Serialized size and hash of a 1,000-task Dag, as the DAG processor writes it.

``python serialization.py '{"folder": DIR, "tasks": 1000, "flagged": false}'`` writes a Dag file of
``tasks`` tasks (PythonOperator, BashOperator and ``@task`` in chains of ten, a few settings each),
parses it with ``DagBag`` and serializes it with ``DagSerialization.to_dict``, the data stored in
``serialized_dag.data``; ``SerializedDagModel.hash`` of it decides whether a new Dag version is
made. Prints one JSON line: bytes of the data as JSON with sorted keys (the order of ``to_dict``
follows set iteration, which changes between processes), its sha256, the stored hash, and the
time of each ``to_dict`` call.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from protocol import airflow_version, arguments, emit, private_stdout  # noqa: E402

HEADER = """
from __future__ import annotations

import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task


def _noop(*args, **kwargs):
    return None


with DAG(
    "bench_serialization",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    default_args={"owner": "bench", "retries": 2, "retry_delay": datetime.timedelta(minutes=1)},
) as dag:
    previous = None
"""


def dag_file(tasks: int, flagged: bool) -> str:
    flag = ", persist_xcom_through_retry=True" if flagged else ""
    lines = [HEADER]
    for i in range(tasks):
        kind = i % 3
        if kind == 0:
            lines.append(
                f"    t = PythonOperator(task_id='python_{i}', python_callable=_noop, "
                f"op_kwargs={{'n': {i}}}{flag})"
            )
        elif kind == 1:
            lines.append(
                f"    t = BashOperator(task_id='bash_{i}', bash_command='echo {i}', env={{'N': '{i}'}}{flag})"
            )
        else:
            lines.append(f"    t = task(task_id='task_{i}', retries=1{flag})(_noop)()")
        lines.append("    if previous is not None and " + f"{i} % 10:" + "\n        previous >> t")
        lines.append("    previous = t")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = arguments()
    channel = private_stdout()
    from airflow.models.serialized_dag import SerializedDagModel

    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.1: the DagBag is a model, and SerializedDAG serializes a Dag
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
        from airflow.serialization.serialized_objects import (  # type: ignore[no-redef]
            SerializedDAG as DagSerialization,
        )

    tasks, flagged = args.get("tasks", 1000), args.get("flagged", False)
    # The same folder for every installation: the file's path is part of the serialized data.
    folder = Path(args["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    path, text = folder / "bench_serialization.py", dag_file(tasks, flagged)
    if not path.exists() or path.read_text() != text:  # probes of both installations may run at once
        scratch = folder / f".bench_serialization.{os.getpid()}"
        scratch.write_text(text)
        scratch.replace(path)
    # Airflow 3.1's DagBag takes no bundle name.
    named = {"bundle_name": "bench"} if "bundle_name" in inspect.signature(DagBag).parameters else {}
    bag = DagBag(dag_folder=folder, bundle_path=folder, **named)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.dags["bench_serialization"]
    seconds = []
    for _ in range(args.get("repeats", 5)):
        began = time.perf_counter()
        data = DagSerialization.to_dict(dag)
        seconds.append(time.perf_counter() - began)
    text = json.dumps(data, sort_keys=True).encode()
    emit(
        channel,
        {
            "versions": airflow_version(),
            "tasks": len(data["dag"]["tasks"]),
            "flagged": flagged,
            "bytes": len(text),
            "sha256": hashlib.sha256(text).hexdigest(),
            "dag_hash": SerializedDagModel.hash(data),
            "mentions_flag": text.count(b"persist_xcom_through_retry"),
            "to_dict_seconds": seconds,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
