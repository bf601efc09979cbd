"""
What the rollout suite's phases look at: the deployment's components and versions, the api-server's
log, Dag runs and XComs through the REST API, and the main tables' rows in the metadata database.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from stack import AirflowStack
from stack_config import ATTEMPTS_ARE_ROWS

COMPONENTS = ("api-server", "scheduler", "dag-processor")  # nothing defers: no triggerer
# The line's versions, set by ./test.sh (e.g. 3.3.2+persistxcom.1 and 3.3.2).
PATCHED_VERSION = os.environ.get("PATCHED_AIRFLOW_VERSION", "3.3.2+persistxcom.1")
VANILLA_VERSION = os.environ.get("VANILLA_AIRFLOW_VERSION", "3.3.2")
PATCHED_WORKER = {
    "airflow": PATCHED_VERSION,
    "task_sdk": os.environ.get("PATCHED_TASK_SDK_VERSION", "1.3.2+persistxcom.1"),
}
VANILLA_WORKER = {"airflow": VANILLA_VERSION, "task_sdk": os.environ.get("VANILLA_TASK_SDK_VERSION", "1.3.2")}
FLAG = ", persist_xcom_through_retry=True"
# The main tables, each with the columns that identify a row (the XCom's value too: it must not change).
# From 3.4 every try is a task_instance row of its own, and XComs are kept per attempt (xcom_v2), those
# from before 3.4 in xcom_v1; before 3.4, earlier tries are in task_instance_history, XComs in xcom.
if ATTEMPTS_ARE_ROWS:
    HISTORY = {
        "xcom_v1": "dag_run_id, task_id, map_index, key, value",
        "xcom_v2": "task_instance_id, key, value",
    }
else:
    HISTORY = {
        "task_instance_history": "task_instance_id",
        "xcom": "dag_run_id, task_id, map_index, key, value",
    }
TABLES = {
    "dag_run": "id",
    "task_instance": "id",
    **HISTORY,
    "serialized_dag": "id",
    "dag_version": "id",
}


def use(stack: AirflowStack, versions: dict[str, Path]) -> None:
    """Move the components whose virtualenv differs from ``versions`` to it: stop them (scheduler
    first), then start them together, which is quicker than one after the other."""
    moving = [
        c
        for c in ("scheduler", "dag-processor", "api-server")
        if stack.venvs.get(c, stack.venv) != versions[c]
    ]
    for component in moving:
        stack.stop_component(component)
    for component in moving:
        stack.start_component(component, venv=versions[component])
    stack.wait_healthy()
    if "api-server" in moving:
        stack.close_client()  # its connections were to the process that was stopped
        stack.warm_up()


def log_size(stack: AirflowStack, component: str = "api-server") -> int:
    path = stack.logs / f"{component}.log"
    return path.stat().st_size if path.exists() else 0


def server_errors(stack: AirflowStack, since: int) -> list[str]:
    """Responses with a 5xx status and tracebacks in the api-server's log since byte ``since``.

    One traceback is the harness's own: ``warm_up`` calls ``/execution/health`` with a REST API
    token, which the Execution API's token-refresh middleware logs (with a traceback, "Audience
    doesn't match") before it serves the request; it is left out.
    """
    lines = (stack.logs / "api-server.log").read_bytes()[since:].decode(errors="replace").splitlines()
    found = []
    for i, line in enumerate(lines):
        if re.search(r"status_code=5\d\d\b", line):
            found.append(line)
        elif line.startswith("Traceback"):
            block = "\n".join(lines[i : i + 40])
            harness = i > 0 and "JWT reissue middleware failed" in lines[i - 1]
            if not (harness and "InvalidAudienceError" in block):
                found.append("\n".join(lines[max(0, i - 2) : i + 40]))
    return found


def run_once(stack: AirflowStack, dag_id: str) -> dict[str, Any]:
    """Trigger ``dag_id``, wait for it to succeed, and return what its task ``work`` left."""
    run_id = stack.trigger(dag_id)
    stack.wait_for_run(dag_id, run_id)
    return {"run_id": run_id, **work_of(stack, dag_id, run_id)}


def work_of(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, Any]:
    return {
        "tries": [t["try_number"] for t in stack.tries(dag_id, run_id, "work")],
        "xcoms": {
            key: stack.xcom(dag_id, run_id, "work", key) for key in stack.xcom_keys(dag_id, run_id, "work")
        },
    }


def served(stack: AirflowStack, dag_id: str) -> dict[str, Any]:
    """What the REST API serves about a Dag (each call fails unless 200)."""
    return {
        "dag": stack.get(f"/api/v2/dags/{dag_id}"),
        "details": stack.get(f"/api/v2/dags/{dag_id}/details"),
        "tasks": stack.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"],
        "task": stack.get(f"/api/v2/dags/{dag_id}/tasks/work"),
        "versions": stack.get(f"/api/v2/dags/{dag_id}/dagVersions")["dag_versions"],
    }


def serialized(stack: AirflowStack, dag_id: str) -> list[tuple]:
    """The Dag's ``serialized_dag`` rows: id, hash of the serialized Dag, when last written."""
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT id, dag_hash, last_updated FROM serialized_dag WHERE dag_id = :dag_id")
            return sorted(tuple(str(v) for v in row) for row in connection.execute(query, {"dag_id": dag_id}))
    finally:
        engine.dispose()


def snapshot(stack: AirflowStack, dag_ids: list[str]) -> dict[tuple[str, str], Any]:
    """Every run of the Dags through the REST API: state, task instances, tries, XComs of ``work``."""
    found = {}
    for dag_id in dag_ids:
        for run in stack.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]:
            run_id = run["dag_run_id"]
            found[(dag_id, run_id)] = {
                "state": run["state"],
                "task_instances": sorted(
                    (ti["task_id"], ti["state"], ti["try_number"])
                    for ti in stack.task_instances(dag_id, run_id)
                ),
                "try_states": sorted(
                    (t["try_number"], t["state"]) for t in stack.tries(dag_id, run_id, "work")
                ),
                **work_of(stack, dag_id, run_id),
            }
    return found


def table_rows(stack: AirflowStack) -> dict[str, Any]:
    """The rows of the main tables (by the columns in ``TABLES``) and the schema's Alembic revision."""
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            rows = {
                table: {
                    tuple(str(v) for v in row)
                    for row in connection.execute(sa.text(f"SELECT {columns} FROM {table}"))
                }
                for table, columns in TABLES.items()
            }
            rows["alembic_version"] = connection.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).all()
    finally:
        engine.dispose()
    return rows


def counts(rows: dict[str, Any]) -> dict[str, int]:
    return {table: len(rows[table]) for table in TABLES}
