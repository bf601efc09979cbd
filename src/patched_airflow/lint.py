"""Lint the files the series touches with upstream's ruff settings, as upstream's CI would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from patched_airflow import git

LICENSE_MARKER = "Licensed to the Apache Software Foundation (ASF)"


def lint_series(tree: Path, repo: Path, ruff: str) -> int:
    """Run ruff check and ruff format --check on the series' Python files; check new files' headers."""
    changed = git.run(
        tree, "diff", "--name-only", "--diff-filter=AM", "pristine", "HEAD", "--", "*.py"
    ).split()
    added = git.run(tree, "diff", "--name-only", "--diff-filter=A", "pristine", "HEAD", "--", "*.py").split()
    # Upstream's root pyproject.toml, which task-sdk/pyproject.toml extends; untracked in the tree.
    shutil.copy2(repo / "lint" / "upstream-ruff.toml", tree / "pyproject.toml")
    failures = 0
    print(f"ruff check + format --check of {len(changed)} files the series touches")
    for command in (
        [ruff, "check", "--no-cache", *changed],
        [ruff, "format", "--check", "--no-cache", *changed],
    ):
        failures += subprocess.run(command, cwd=tree).returncode != 0
    for path in added:
        if LICENSE_MARKER not in (tree / path).read_text()[:1000]:
            print(f"{path}: missing the Apache license header")
            failures += 1
    print("ruff check + format --check of this repository's own code (its pyproject.toml settings)")
    for command in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--check", "--no-cache", "."]):
        failures += subprocess.run(command, cwd=repo).returncode != 0
    return 1 if failures else 0
