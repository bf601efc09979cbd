"""
The upgrade suite: one deployment moved from an earlier line's patched build to this line's, with a
flagged task instance waiting for its retry (``up_for_retry``) while it moves.

It starts on the earlier line (``UPGRADE_FROM_VENV``, set by ``./test.sh`` from the line's
``[upgrade] from_line``: for the 3.4 line, the 3.3 line's ``build/3.3/venv``), runs the Dag until
try 1 of both tasks has failed, stops every component before the retry is due, runs this line's
``airflow db migrate`` on the same database, and starts every component on this line's build.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from stack import deployment

HERE = Path(__file__).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor")
DAG_ID = "upgrade_retry"
TASKS = ("flagged", "plain")


@pytest.fixture(scope="session")
def from_venv() -> Path:
    """The earlier line's patched virtualenv, which the deployment starts on."""
    if not (path := os.environ.get("UPGRADE_FROM_VENV")):
        pytest.skip(
            "UPGRADE_FROM_VENV is not set: run through ./test.sh --suite upgrade on a line that has one"
        )
    return Path(path)


@pytest.fixture(scope="session")
def upgraded(venv, from_venv, stack_home) -> dict[str, Any]:
    with deployment(
        stack_home("upgrade"), [HERE / "dags"], wait_for_dags=[DAG_ID], venv=from_venv, components=COMPONENTS
    ) as stack:
        before = stack.get("/api/v2/version")["version"]
        run_id = stack.trigger(DAG_ID)
        for task_id in TASKS:
            stack.wait_for_ti(DAG_ID, run_id, task_id, "up_for_retry", timeout=240)
        # Stop before the retry is due (RETRY_DELAY in the Dag file): try 2 runs on this line.
        stack.stop()
        stack.venv, stack.airflow = venv, str(venv / "bin" / "airflow")
        stack.start()
        after = stack.get("/api/v2/version")["version"]
        run = stack.wait_for_run(DAG_ID, run_id, timeout=300)
        return {
            "versions": (before, after),
            "run": run,
            "xcoms": {
                task_id: {
                    key: stack.xcom(DAG_ID, run_id, task_id, key)
                    for key in stack.xcom_keys(DAG_ID, run_id, task_id)
                }
                for task_id in (*TASKS, "downstream")
            },
            "tries": {t: [ti["try_number"] for ti in stack.tries(DAG_ID, run_id, t)] for t in TASKS},
        }
