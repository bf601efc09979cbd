"""
The contract suite: one real Airflow deployment (api-server, scheduler with the LocalExecutor,
dag-processor, triggerer) for the whole session, on the suite's database, with the Dags in
``dags/``. Every selected module's Dag runs start at once, so that they run concurrently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from stack import deployment

DAGS = Path(__file__).parent / "dags"
DAG_IDS = [
    "stack_retry",
    "stack_mapped",
    "stack_defer_reschedule",
    *(
        f"stack_clear_{state}_{way}"
        for state in ("success", "failed", "up_for_retry", "running")
        for way in ("rest", "cli")
    ),
]


def parallelism() -> int:
    """LocalExecutor slots: ``E2E_PARALLELISM``, else 8 (tasks here are short and mostly wait on the
    API server, so 8 beats 4 even on 2 cores; SQLite copes, see tests/stack/README.md)."""
    return int(os.environ.get("E2E_PARALLELISM", "8"))


@pytest.fixture(scope="session")
def stack(venv, stack_home):
    with deployment(
        stack_home("contract"), [DAGS], wait_for_dags=DAG_IDS, venv=venv, parallelism=parallelism()
    ) as running:
        yield running


@pytest.fixture(scope="session")
def started(stack, request) -> dict[str, object]:
    """Start every selected test module's Dag runs at once, so that they run concurrently.

    A test module that defines ``start_runs(stack)`` has it called here, once per session, before
    its first test; what it returns is ``started[module.__name__]``. A module with only a ``DAG``
    gets one run of it triggered.
    """
    modules = sorted({item.module for item in request.session.items}, key=lambda m: m.__name__)
    runs = {}
    for module in modules:
        if hasattr(module, "start_runs"):
            runs[module.__name__] = module.start_runs(stack)
        elif hasattr(module, "DAG"):
            runs[module.__name__] = stack.trigger(module.DAG)
    return runs


@pytest.fixture(scope="module")
def run_id(stack, started, request) -> str:
    """The module's one Dag run, once it has succeeded.

    For a module that names its Dag in ``DAG`` and no ``start_runs`` of its own: it is triggered with
    every other module's runs, and waited for ``RUN_TIMEOUT`` seconds (default 600).
    """
    module = request.module
    run_id = started[module.__name__]
    stack.wait_for_run(module.DAG, run_id, timeout=getattr(module, "RUN_TIMEOUT", 600))
    return run_id
