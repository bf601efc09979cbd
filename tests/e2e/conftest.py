"""Fixtures for end-to-end tests: the patched Airflow's command line on a throwaway home."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

DAGS = Path(__file__).parent / "dags"
_LINE = re.compile(r"^E2E (\S+)\[(-?\d+)\] try=(\d+) (.*)$", re.MULTILINE)

# A cluster policy, as a platform team would set the flag for Dags they do not own.
LOCAL_SETTINGS = """
def task_policy(task):
    if "persist-by-policy" in (task.dag.tags if task.dag else ()):
        task.persist_xcom_through_retry = True
"""


class Airflow:
    """Runs the installed ``airflow`` command against its own AIRFLOW_HOME and database."""

    def __init__(self, home: Path, dags: Path = DAGS):
        self.home = home
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "false",
        }
        if os.environ.get("PATCHED_AIRFLOW_BACKEND", "sqlite") == "sqlite":
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
        self.executable = str(Path(os.environ.get("PATCHED_AIRFLOW_VENV", "")) / "bin" / "airflow")

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.executable, *args], env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result


def reports(output: str) -> dict[tuple[str, int, int], dict[str, str]]:
    """``E2E`` lines printed by the tasks, by (task id, map index, try number)."""
    return {
        (task_id, int(map_index), int(try_number)): dict(field.split("=", 1) for field in fields.split())
        for task_id, map_index, try_number, fields in _LINE.findall(output)
    }


@pytest.fixture(scope="module")
def airflow(tmp_path_factory) -> Airflow:
    if not os.environ.get("PATCHED_AIRFLOW_VENV"):
        pytest.skip("PATCHED_AIRFLOW_VENV is not set: run through ./test.sh")
    runner = Airflow(tmp_path_factory.mktemp("airflow-home"))
    (runner.home / "config").mkdir()
    (runner.home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)
    runner("db", "migrate")
    return runner
