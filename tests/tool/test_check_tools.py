"""
The lint and mypy checks fail when their tool crashes or is given nothing to check, with a line
saying so, instead of reading "no errors". Real ruff and mypy (those of the tool's environment) and
real git trees.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from patched_airflow import git
from patched_airflow.testing.lint import lint_series
from patched_airflow.testing.tool_run import ToolFailed
from patched_airflow.testing.typecheck import run_mypy, typecheck_series

RUFF = str(Path(sys.executable).parent / "ruff")
HEADER = "# Licensed to the Apache Software Foundation (ASF) under one\n"
MODULE = "airflow-core/src/airflow/checked.py"


def series_tree(path: Path, pristine: dict[str, str], series: dict[str, str]) -> Path:
    """A git tree: ``pristine`` files committed and tagged ``pristine``, then ``series`` on top."""
    for files in (pristine, series):
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
        if files is pristine:
            git.init(path)
            git.commit_all(path, "pristine")
            git.run(path, "tag", "pristine")
    git.commit_all(path, "series")
    return path


PRISTINE = {
    "README": "x\n",
    "airflow-core/pyproject.toml": "# no settings\n",
    "task-sdk/pyproject.toml": "\n",
}


def lint_repo(path: Path, settings: str) -> Path:
    """A repository beside the tree: its lint/upstream-ruff.toml, and no Python file of its own."""
    (path / "lint").mkdir(parents=True)
    (path / "lint" / "upstream-ruff.toml").write_text(settings)
    return path


# mypy


def test_mypy_errors_without_their_line_numbers(tmp_path: Path):
    (tmp_path / "m.py").write_text('x: int = "a"\n')
    assert run_mypy(Path(sys.executable), tmp_path, ["m.py"]) == {
        'm.py: error: Incompatible types in assignment (expression has type "str", variable has type "int")  [assignment]'
    }
    (tmp_path / "m.py").write_text("x: int = 1\n")
    assert run_mypy(Path(sys.executable), tmp_path, ["m.py"]) == set()


def test_mypy_that_does_not_run_to_the_end_fails(tmp_path: Path):
    (tmp_path / "m.py").write_text("x: int = 1\n")
    with pytest.raises(
        ToolFailed, match=r"(?s)^mypy did not run to the end \(exit 2\).*Invalid python executable"
    ):
        run_mypy(tmp_path / "no-python", tmp_path, ["m.py"])
    (tmp_path / "broken.py").write_text("x = (\n")  # a blocking error: nothing else is checked
    with pytest.raises(ToolFailed, match=r"(?s)exit 2.*broken\.py:\d+: error"):
        run_mypy(Path(sys.executable), tmp_path, ["m.py", "broken.py"])


def test_mypy_given_no_module_fails(tmp_path: Path):
    with pytest.raises(ToolFailed, match="mypy was given no module to check"):
        run_mypy(Path(sys.executable), tmp_path, [])


def fake_venv(path: Path, python: bool) -> Path:
    """A virtualenv's layout holding airflow/checked.py; its python a link to this one, or none."""
    site = path / "lib" / "python3.11" / "site-packages" / "airflow"
    site.mkdir(parents=True)
    (site / "checked.py").write_text("x: int = 1\n")
    (path / "bin").mkdir()
    if python:
        (path / "bin" / "python").symlink_to(sys.executable)
    return path


def test_the_mypy_check_fails_saying_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    tree = series_tree(tmp_path / "tree", PRISTINE, {MODULE: "x: int = 1\n"})
    patched, vanilla = fake_venv(tmp_path / "patched", True), fake_venv(tmp_path / "vanilla", True)
    assert typecheck_series(tree, patched, vanilla, tmp_path / "build") == 0
    assert "  no new mypy errors" in capsys.readouterr().out
    broken = fake_venv(tmp_path / "broken", python=False)
    assert typecheck_series(tree, broken, vanilla, tmp_path / "build") == 1
    assert re.search(r"^  FAILED: mypy did not run to the end \(exit 2\)$", capsys.readouterr().out, re.M)


def test_the_mypy_check_of_a_series_touching_no_module_fails(tmp_path: Path, capsys):
    tree = series_tree(tmp_path / "tree", PRISTINE, {"README": "y\n"})
    venv = fake_venv(tmp_path / "venv", True)
    assert typecheck_series(tree, venv, venv, tmp_path / "build") == 1
    assert "  FAILED: the series touches no module under */src/" in capsys.readouterr().out


# ruff


def test_the_lint_check_reads_ruffs_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    tree = series_tree(tmp_path / "tree", PRISTINE, {MODULE: f"{HEADER}import os\n"})
    repo = lint_repo(tmp_path / "repo", '[tool.ruff.lint]\nselect = ["F"]\n')
    assert lint_series(tree, repo, RUFF) == 1
    assert f"  new: {MODULE}: F401 `os` imported but unused" in capsys.readouterr().out
    (tree / MODULE).write_text(f"{HEADER}import os\n\nprint(os.sep)\n")
    git.commit_all(tree, "fix")
    assert lint_series(tree, repo, RUFF) == 0
    assert "  no new ruff errors" in capsys.readouterr().out


def test_ruff_that_does_not_run_to_the_end_fails_the_lint_check(tmp_path: Path, capsys):
    tree = series_tree(tmp_path / "tree", PRISTINE, {MODULE: f"{HEADER}import os\n"})
    repo = lint_repo(tmp_path / "repo", "[tool.ruff\nselect = \n")  # settings ruff cannot parse
    assert lint_series(tree, repo, RUFF) == 1
    out = capsys.readouterr().out
    assert re.search(r"^  FAILED: ruff check did not run to the end \(exit 2\)$", out, re.M), out
    assert "  FAILED: ruff format did not run to the end (exit 2)" in out


def test_the_lint_check_of_a_series_touching_no_python_file_fails(tmp_path: Path, capsys):
    tree = series_tree(tmp_path / "tree", PRISTINE, {"README": "y\n"})
    repo = lint_repo(tmp_path / "repo", "[tool.ruff]\n")
    assert lint_series(tree, repo, RUFF) == 1
    assert "  FAILED: the series touches no Python file" in capsys.readouterr().out
