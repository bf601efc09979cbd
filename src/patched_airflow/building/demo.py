"""The short demo that ends ``./build.sh``: a task resuming from its checkpoint on retry (SQLite)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

_LINE = re.compile(r"DEMO persist=(True|False) try=(\d+) start=(\d+)")


def run_demo(venv: Path, dags: Path) -> bool:
    """Run the demo DAG with ``airflow dags test``; print what each task did; return whether it held."""
    with tempfile.TemporaryDirectory(prefix="airflow-demo-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
        airflow = str(venv / "bin" / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        result = subprocess.run(
            [airflow, "dags", "test", "checkpoint_demo"], env=env, capture_output=True, text=True
        )
    starts: dict[bool, dict[int, int]] = {True: {}, False: {}}
    for persist, try_number, start in _LINE.findall(result.stdout + result.stderr):
        starts[persist == "True"][int(try_number)] = int(start)

    print("\nDemo: 1,000 records, a checkpoint XCom every 100, the first try fails at record 500.")
    print("      `airflow dags test` on a throwaway SQLite database, retries=1.")
    for persist in (True, False):
        tries = ", ".join(f"try {n} started at record {s}" for n, s in sorted(starts[persist].items()))
        print(f"  persist_xcom_through_retry={persist!s:<5}: {tries or 'did not run'}")
    held = starts[True].get(2) == 500 and starts[False].get(2) == 0 and result.returncode == 0
    if held:
        print("  -> with the flag the retry resumed from its checkpoint; without it, it started over.")
    else:
        print("  -> UNEXPECTED: the demo did not behave as promised; `airflow dags test` output follows.")
        print(result.stdout[-4000:], result.stderr[-4000:])
    return held
