"""
``airflow dags test`` of the example Dag the series ships, ``example_persist_xcom_through_retry``.

The Dag file is copied out of the installed core wheel into a Dags folder of its own, so the test
runs exactly what users get, without parsing every other example Dag. Each task of the example
fails its first try on purpose; the assertions read the lines the tasks print.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Airflow

DAG_ID = "example_persist_xcom_through_retry"
TOTAL = sum(range(10_000))  # What process_records adds up, over all its records.


def _installed_example() -> Path:
    """The example Dag file in the installed core wheel (found without importing Airflow)."""
    python = Path(os.environ["PATCHED_AIRFLOW_VENV"]) / "bin" / "python"
    found = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(found.stdout.strip()) / "airflow" / "example_dags" / f"{DAG_ID}.py"


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> str:
    if not os.environ.get("PATCHED_AIRFLOW_VENV"):
        pytest.skip("PATCHED_AIRFLOW_VENV is not set: run through ./test.sh")
    dags = tmp_path_factory.mktemp("example-dags")
    shutil.copy2(_installed_example(), dags)
    airflow = Airflow(tmp_path_factory.mktemp("airflow-home"), dags=dags)
    airflow("db", "migrate")
    # The 3.4 example fails its first try only when asked to; the other lines' examples ignore the conf.
    result = airflow("dags", "test", DAG_ID, "--conf", '{"fail_first_try": true}')
    return result.stdout + result.stderr


def _lines(output: str, pattern: str) -> list[tuple[str, ...]]:
    return [match.groups() for match in re.finditer(pattern, output, re.MULTILINE)]


def test_the_run_succeeds_after_the_retries(output):
    assert "Simulated failure after 6000 records" in output
    assert "Simulated failure while waiting for job" in output
    assert re.search(rf"DagRun Finished: dag_id={DAG_ID}, .*, state=success, ", output)


def test_the_retry_resumes_from_the_last_checkpoint(output):
    assert _lines(output, r"^Try (\d): starting at record (\d+)$") == [("1", "0"), ("2", "6000")]
    # Records 0-5999 were added up by try 1 only, the rest by try 2 only: nothing twice, nothing lost.
    assert _lines(output, r"^Processed 10000 records, total (\d+), ") == [(str(TOTAL),)]


def test_the_retry_polls_the_job_instead_of_submitting_another(output):
    submitted = _lines(output, r"^Try (\d): submitted job (\S+)$")
    assert len(submitted) == 1, submitted
    assert submitted[0][0] == "1"
    job_id = submitted[0][1]
    assert _lines(output, r"^Try (\d): polling job (\S+), submitted by an earlier try$") == [("2", job_id)]
    assert _lines(output, r"^Job (\S+) finished with status (\S+)$") == [(job_id, "success")]


def test_the_write_once_key_keeps_the_first_value(output):
    started = _lines(output, r"^Try (\d): processing first started at (\S+)$")
    assert [try_number for try_number, _ in started] == ["1", "2"]
    first = started[0][1]
    assert started[1][1] == first
    assert _lines(output, r"^Processed 10000 records, total \d+, first started at (\S+)$") == [(first,)]
