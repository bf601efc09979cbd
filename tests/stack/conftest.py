"""
What every stack suite shares: where a deployment's home goes, and the logs in failure reports.

Each folder below is one suite (``./test.sh --suite NAME``) with its own deployment(s), started
with ``stack.deployment`` on the database the runner gives the suite
(``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``: a SQLite file or a fresh PostgreSQL database).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import stack


@pytest.fixture(scope="session")
def venv() -> Path:
    """The patched Airflow's virtualenv (``PATCHED_AIRFLOW_VENV``, set by ``./test.sh``)."""
    if not (path := os.environ.get("PATCHED_AIRFLOW_VENV")):
        pytest.skip("PATCHED_AIRFLOW_VENV is not set: run through ./test.sh --test-type e2e")
    return Path(path)


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory):
    """``stack_home(name)``: a fresh directory for a deployment's home.

    Under ``E2E_STACK_HOME`` (emptied first), to keep the deployment's files for a post-mortem,
    else a pytest temporary directory (of which pytest keeps only the last few).
    """

    def make(name: str) -> Path:
        if not (root := os.environ.get("E2E_STACK_HOME")):
            return tmp_path_factory.mktemp(name)
        path = Path(root) / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for deployment in stack.LIVE:
            report.sections.append(
                (f"airflow stack logs ({deployment.home})", deployment.log_tails(lines=60))
            )
    return report


def pytest_terminal_summary(terminalreporter, config):
    for problem in stack.TEARDOWN_PROBLEMS:
        terminalreporter.write_sep("-", "airflow stack: a component died or did not stop cleanly")
        terminalreporter.write_line(problem)
