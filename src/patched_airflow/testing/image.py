"""Check the Dockerfile without a Docker engine: hadolint, and its install step in a clean virtualenv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from patched_airflow.lines import Line

CHECK = """
from importlib.metadata import version

from airflow.sdk import BaseOperator

assert BaseOperator(task_id="t", persist_xcom_through_retry=True).persist_xcom_through_retry
print("apache-airflow", version("apache-airflow"), "| core", version("apache-airflow-core"),
      "| task-sdk", version("apache-airflow-task-sdk"))
"""


def check_image(repo: Path, line: Line, uv: str) -> int:
    """The Dockerfile builds the default line's image: hadolint, then its install step without Docker."""
    tools = Path(sys.executable).parent
    print("hadolint Dockerfile")
    if subprocess.run([str(tools / "hadolint"), "Dockerfile"], cwd=repo).returncode != 0:
        return 1
    # The image's base: the vanilla release, as the official image has it.
    venv = line.build / "venv-image"
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    release = f"apache-airflow=={line.airflow_version}"
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, release], check=True)
    print(f"docker/install-patched-wheels.sh in a clean virtualenv with {release}")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    script = repo / "docker" / "install-patched-wheels.sh"
    if subprocess.run(["bash", str(script), str(line.dist)], env=env).returncode != 0:
        return 1
    return subprocess.run([python, "-c", CHECK], env=env).returncode
