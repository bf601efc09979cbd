"""The virtualenvs a line runs in: ``apache-airflow==<release>`` with the patched wheels, or vanilla."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from patched_airflow.lines import Line

# What the test suites (and the benchmark, which reuses the line's virtualenvs) install beside Airflow.
TEST_REQUIREMENTS = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "pytest-timeout>=2",
    "time-machine>=2.13",
    "kgb>=7",
    "pandas",
    "pyarrow",
    "psycopg2-binary",
    "asyncpg",
    # The celery suite's CeleryExecutor deployment (Redis broker). 3.26.0 is the latest release and has
    # the Airflow 3.3 code paths (BaseExecutor.run_workload); common-io comes with apache-airflow.
    "apache-airflow-providers-celery==3.26.0",
]


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~\[;@ ]", requirement, maxsplit=1)[0].lower()


def ensure_venv(uv: str, line: Line, wheels: list[Path], extra: list[str], venv: Path) -> Path:
    """(Re)install ``apache-airflow==<the line's release>``, with ``wheels`` in place of its own."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    reinstall = []
    for wheel in wheels:
        reinstall += ["--reinstall-package", wheel.name.split("-")[0].replace("_", "-")]
    # The release's dependencies as of its release day, if the line says so (some distributions as of a
    # later day); a requirement the line names replaces the tool's own for the same distribution (e.g. the
    # Celery provider's pin).
    resolution = ["--exclude-newer", line.exclude_newer] if line.exclude_newer else []
    for distribution, date in line.exclude_newer_packages.items():
        resolution += ["--exclude-newer-package", f"{distribution}={date}"]
    replaced = {_distribution(requirement) for requirement in line.venv_requirements}
    extra = [requirement for requirement in extra if _distribution(requirement) not in replaced]
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *reinstall,
            *resolution,
            f"apache-airflow=={line.airflow_version}",
            *map(str, wheels),
            *extra,
            *line.venv_requirements,
        ],
        check=True,
    )
    return venv


AIRFLOW_DISTRIBUTIONS = ("apache-airflow-core", "apache-airflow-task-sdk")


def installed(uv: str, venv: Path) -> dict[str, str]:
    """``uv pip freeze`` of ``venv``: requirement line by distribution name."""
    freeze = subprocess.run(
        [uv, "pip", "freeze", "--quiet", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.strip() for line in freeze.splitlines() if line.strip()]
    return {re.split(r"\s*(?:==|@)", line, maxsplit=1)[0].lower(): line for line in lines}


def same_other_packages(uv: str, reference: Path, venv: Path) -> None:
    """Install into ``venv`` the versions ``reference`` has of every package but Airflow's own two."""
    wanted = {k: v for k, v in installed(uv, reference).items() if k not in AIRFLOW_DISTRIBUTIONS}
    current = installed(uv, venv)
    own = {k: v for k, v in current.items() if k in AIRFLOW_DISTRIBUTIONS}
    have = {k: v for k, v in current.items() if k not in AIRFLOW_DISTRIBUTIONS}
    if have == wanted:
        return
    print(f"Aligning {venv.name}'s packages with {reference.name}'s", flush=True)
    requirements = venv / "requirements-aligned.txt"
    requirements.write_text("\n".join([*wanted.values(), *own.values()]) + "\n")
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), str(requirements)],
        check=True,
    )
    have = {k: v for k, v in installed(uv, venv).items() if k not in AIRFLOW_DISTRIBUTIONS}
    if have != wanted:
        differ = sorted(set(have.items()) ^ set(wanted.items()))
        raise SystemExit(f"error: {venv} and {reference} still differ in: {differ}")
