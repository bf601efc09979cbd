"""mypy on the modules the series touches: no error that the vanilla release does not already have."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from patched_airflow import git

MYPY_FLAGS = [
    "--ignore-missing-imports",
    "--follow-imports=silent",
    "--no-implicit-optional",
    "--namespace-packages",
    "--explicit-package-bases",
    "--no-error-summary",
    "--hide-error-context",
]
_LOCATION = re.compile(r"^([^:]+):\d+: ")


def _errors(venv: Path, workdir: Path, modules: list[str]) -> set[str]:
    """mypy errors in ``modules`` as installed in ``venv``, without line numbers (they shift)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    shutil.copytree(site_packages / "airflow", workdir / "airflow", ignore=shutil.ignore_patterns("ui"))
    existing = [m for m in modules if (workdir / m).exists()]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            str(venv / "bin" / "python"),
            *MYPY_FLAGS,
            *existing,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    return {_LOCATION.sub(r"\1: ", line) for line in result.stdout.splitlines() if ": error:" in line}


def typecheck_series(tree: Path, venv: Path, vanilla: Path, build: Path) -> int:
    changed = git.run(tree, "diff", "--name-only", "--diff-filter=AM", "pristine", "HEAD", "--", "*/src/*.py")
    # Example Dags pass XComArgs to @task functions, which upstream's mypy accepts through its own
    # airflow_mypy decorator plugin (in the monorepo, not published); without it they cannot pass.
    modules = sorted({path.split("/src/", 1)[1] for path in changed.split() if "/example_dags/" not in path})
    print(f"mypy on {len(modules)} modules the series touches, patched build against the vanilla release")
    new = _errors(venv, build / "mypy" / "patched", modules) - _errors(
        vanilla, build / "mypy" / "vanilla", modules
    )
    for error in sorted(new):
        print(f"  new: {error}")
    print("  no new mypy errors" if not new else f"  {len(new)} new mypy errors")
    return 1 if new else 0
