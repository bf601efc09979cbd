"""Lint the files the series touches with upstream's ruff settings, as upstream's CI would."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from patched_airflow import git
from patched_airflow.testing.tool_run import ToolFailed, output_tail, require_ran

LICENSE_MARKER = "Licensed to the Apache Software Foundation (ASF)"
# The per-distribution settings that extend upstream's root pyproject.toml.
RUFF_CONFIGS = ("airflow-core/pyproject.toml", "task-sdk/pyproject.toml")


def _ruff_errors(ruff: str, root: Path, files: list[str]) -> Counter[tuple[str, str, str]]:
    """
    ``ruff check`` errors in ``files`` under ``root``, as (file, code, message): lines shift. Nothing
    for no files (a release's own copies, when the series only adds). ToolFailed when ruff does not
    run to the end (exit 2: a bad setting, a crash), or writes no JSON list of errors.
    """
    if not files:
        return Counter()
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--output-format", "json", *files],
        cwd=root,
        capture_output=True,
        text=True,
    )
    require_ran("ruff check", result)
    try:
        errors = json.loads(result.stdout)
    except json.JSONDecodeError:
        errors = None
    if not isinstance(errors, list) or result.returncode == 1 and not errors:
        raise ToolFailed(
            f"ruff check (exit {result.returncode}) wrote no JSON list of errors{output_tail(result)}"
        )
    return Counter(
        (str(Path(error["filename"]).relative_to(root.resolve())), error["code"], error["message"])
        for error in errors
    )


def _ruff_check_new_errors(tree: Path, ruff: str, changed: list[str], added: list[str]) -> int:
    """
    ``ruff check`` of the series' files: no error that the release's own files do not already have.

    ``lint/upstream-ruff.toml`` holds the settings of the newest line; an older release's files may
    break rules added since (Airflow 3.1's tests and PT006, for example). Those errors are counted on
    the pristine files and not held against the series; anything else is.
    """
    patched = _ruff_errors(ruff, tree, changed)
    modified = [path for path in changed if path not in added]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for path in [*modified, *RUFF_CONFIGS, "pyproject.toml"]:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path == "pyproject.toml":
                shutil.copy2(tree / path, target)
            else:
                target.write_text(git.run(tree, "show", f"pristine:{path}"))
        released = _ruff_errors(ruff, root, modified)
    new = patched - released
    if released:
        print(f"  {sum(released.values())} ruff errors the release's own files already have are not counted")
    for (path, code, message), count in sorted(new.items()):
        print(f"  new: {path}: {code} {message}" + (f" ({count}x)" if count > 1 else ""))
    print("  no new ruff errors" if not new else f"  {sum(new.values())} new ruff errors")
    return 1 if new else 0


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
    if not changed:
        print(f"  FAILED: the series touches no Python file of {tree}: nothing to lint")
        return 1
    try:
        failures += _ruff_check_new_errors(tree, ruff, changed, added)
    except ToolFailed as e:
        print(f"  FAILED: {e}")
        failures += 1
    failures += _ran(tree, [ruff, "format", "--check", "--no-cache", *changed])
    for path in added:
        if LICENSE_MARKER not in (tree / path).read_text()[:1000]:
            print(f"{path}: missing the Apache license header")
            failures += 1
    print("ruff check + format --check of this repository's own code (its pyproject.toml settings)")
    for command in ([ruff, "check", "--no-cache", "."], [ruff, "format", "--check", "--no-cache", "."]):
        failures += _ran(repo, command)
    return 1 if failures else 0


def _ran(cwd: Path, command: list[str]) -> int:
    """Run a ruff command whose report goes to the terminal; 1 if it failed, saying so if it did not run to the end."""
    code = subprocess.run(command, cwd=cwd).returncode
    if code not in (0, 1):
        print(f"  FAILED: ruff {command[1]} did not run to the end (exit {code})")
    return 1 if code else 0
