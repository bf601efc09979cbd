"""Thin helpers around the git command line, with a fixed identity so results are reproducible."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "patched-airflow",
    "GIT_AUTHOR_EMAIL": "patched-airflow@localhost",
    "GIT_COMMITTER_NAME": "patched-airflow",
    "GIT_COMMITTER_EMAIL": "patched-airflow@localhost",
}
# The pristine commit gets a fixed date so its id, and the ids in exported patches, are stable.
PRISTINE_DATE = "2000-01-01T00:00:00+00:00"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **IDENTITY, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, ["git", *args], result.stdout, result.stderr)
    return result.stdout


def init(path: Path) -> None:
    run(path, "init", "-q", "-b", "main")
    run(path, "config", "core.autocrlf", "false")
    run(path, "config", "commit.gpgsign", "false")


def commit_all(path: Path, message: str) -> None:
    run(path, "add", "-A")
    dated = {"GIT_AUTHOR_DATE": PRISTINE_DATE, "GIT_COMMITTER_DATE": PRISTINE_DATE}
    run(path, "commit", "-q", "--no-verify", "-m", message, env=dated)
