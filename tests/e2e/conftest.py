"""
One real Airflow deployment (``stack.AirflowStack``) per test session, on the suite's database.

The database is the one the runner gives (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``: a SQLite file or
a fresh PostgreSQL database), or a SQLite file in the throwaway home when pytest is run by hand
with only ``PATCHED_AIRFLOW_VENV`` set. A failing test's report carries the end of every
component's log; so does the session summary when a component died or did not stop cleanly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from stack import AirflowStack

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
_STACK = pytest.StashKey[AirflowStack]()
_TEARDOWN = pytest.StashKey[str]()


def parallelism() -> int:
    """LocalExecutor slots: ``E2E_PARALLELISM``, else 8 (tasks here are short and mostly wait on the
    API server, so 8 beats 4 even on 2 cores; SQLite copes, see the README of this folder)."""
    return int(os.environ.get("E2E_PARALLELISM", "8"))


def home(tmp_path_factory) -> Path:
    """``E2E_STACK_HOME`` (emptied first) to keep the deployment's files for a post-mortem, else a
    pytest temporary directory (of which pytest keeps only the last few, shared by all users)."""
    if not (path := os.environ.get("E2E_STACK_HOME")):
        return tmp_path_factory.mktemp("airflow-stack")
    shutil.rmtree(path, ignore_errors=True)
    Path(path).mkdir(parents=True)
    return Path(path)


@pytest.fixture(scope="session")
def stack(request, tmp_path_factory) -> AirflowStack:
    venv = os.environ.get("PATCHED_AIRFLOW_VENV")
    if not venv:
        pytest.skip("PATCHED_AIRFLOW_VENV is not set: run through ./test.sh --test-type e2e")
    deployment = AirflowStack(home(tmp_path_factory), [DAGS], venv=Path(venv), parallelism=parallelism())
    request.config.stash[_STACK] = deployment
    try:
        deployment.start(wait_for_dags=DAG_IDS)
    except BaseException:
        deployment.stop()
        raise
    yield deployment
    dead = deployment.dead_components()
    codes = deployment.stop()
    if dead or any(code not in (0, -15, None) for code in codes.values()):
        request.config.stash[_TEARDOWN] = (
            f"died during the session: {dead}; exit codes at teardown: {codes}\n{deployment.log_tails()}"
        )


@pytest.fixture(scope="session")
def started(stack, request) -> dict[str, object]:
    """Start every selected test module's Dag runs at once, so that they run concurrently.

    A test module that defines ``start_runs(stack)`` has it called here, once per session, before
    its first test; what it returns is ``started[module.__name__]``.
    """
    modules = sorted({item.module for item in request.session.items}, key=lambda m: m.__name__)
    return {module.__name__: module.start_runs(stack) for module in modules if hasattr(module, "start_runs")}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    deployment = item.config.stash.get(_STACK, None)
    if deployment is not None and report.failed:
        report.sections.append(("airflow stack logs", deployment.log_tails(lines=60)))
    return report


def pytest_terminal_summary(terminalreporter, config):
    deployment = config.stash.get(_STACK, None)
    if deployment is None:
        return
    terminalreporter.write_sep("-", f"airflow stack: {deployment.backend}, home {deployment.home}")
    if teardown := config.stash.get(_TEARDOWN, None):
        terminalreporter.write_line(teardown)
