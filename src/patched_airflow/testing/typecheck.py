"""mypy on the modules the series touches: no error that the vanilla release does not already have."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from patched_airflow import git
from patched_airflow.testing.tool_run import ToolFailed, output_tail, require_ran

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


def run_mypy(python: Path, workdir: Path, modules: list[str]) -> set[str]:
    """
    mypy's errors in ``modules`` (paths below ``workdir``), for the environment of ``python``, without
    line numbers (they shift). ToolFailed when it is given no module, does not run to the end (exit
    2: a crash, a bad option, a syntax error) or says it failed without an error line.
    """
    if not modules:
        raise ToolFailed("mypy was given no module to check")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), *MYPY_FLAGS, *modules],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    require_ran("mypy", result)
    errors = {_LOCATION.sub(r"\1: ", line) for line in result.stdout.splitlines() if ": error:" in line}
    if result.returncode == 1 and not errors:
        raise ToolFailed(f"mypy exited 1 without an error line{output_tail(result)}")
    return errors


def _errors(venv: Path, workdir: Path, modules: list[str], every: bool) -> set[str]:
    """
    mypy errors in ``modules`` as installed in ``venv``. ``every``: each must be there (the patched
    build); else those that are (the vanilla release lacks the modules the series adds).
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    shutil.copytree(site_packages / "airflow", workdir / "airflow", ignore=shutil.ignore_patterns("ui"))
    existing = [m for m in modules if (workdir / m).exists()]
    if every and (absent := sorted(set(modules) - set(existing))):
        raise ToolFailed(f"{venv} lacks modules the series touches: {', '.join(absent)}")
    return run_mypy(venv / "bin" / "python", workdir, existing) if existing else set()


def typecheck_series(tree: Path, venv: Path, vanilla: Path, build: Path) -> int:
    changed = git.run(tree, "diff", "--name-only", "--diff-filter=AM", "pristine", "HEAD", "--", "*/src/*.py")
    # Example Dags pass XComArgs to @task functions, which upstream's mypy accepts through its own
    # airflow_mypy decorator plugin (in the monorepo, not published); without it they cannot pass.
    modules = sorted({path.split("/src/", 1)[1] for path in changed.split() if "/example_dags/" not in path})
    print(f"mypy on {len(modules)} modules the series touches, patched build against the vanilla release")
    if not modules:
        print(f"  FAILED: the series touches no module under */src/ of {tree}: nothing to type-check")
        return 1
    try:
        new = _errors(venv, build / "mypy" / "patched", modules, every=True) - _errors(
            vanilla, build / "mypy" / "vanilla", modules, every=False
        )
    except ToolFailed as e:
        print(f"  FAILED: {e}")
        return 1
    for error in sorted(new):
        print(f"  new: {error}")
    print("  no new mypy errors" if not new else f"  {len(new)} new mypy errors")
    return 1 if new else 0
