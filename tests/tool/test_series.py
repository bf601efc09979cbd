"""Tests of the patch-series round trip: apply to a pristine tree, edit, export, apply again."""

from __future__ import annotations

from pathlib import Path

import pytest

from patched_airflow import git
from patched_airflow.building.series import (
    Entry,
    SeriesError,
    apply_series,
    export_series,
    read_series,
    write_series,
)


def make_pristine(path: Path) -> Path:
    (path / "pkg").mkdir(parents=True)
    (path / "pkg" / "module.py").write_text("VALUE = 1\n")
    (path / "pkg" / "other.py").write_text("OTHER = 1\n")
    git.init(path)
    git.commit_all(path, "pristine")
    git.run(path, "tag", "pristine")
    return path


def commit(path: Path, message: str) -> None:
    git.run(path, "add", "-A")
    git.run(path, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo" / "patches").mkdir(parents=True)
    return tmp_path / "repo"


def test_read_series_with_added_files_and_comments(repo: Path):
    (repo / "patches" / "series").write_text(
        "# comment\n0001-a.patch\n    pkg/new.py  # the new module\n\n0002-b.patch\n"
    )
    assert read_series(repo / "patches") == [Entry("0001-a.patch", ["pkg/new.py"]), Entry("0002-b.patch")]


def test_read_series_rejects_added_file_before_any_patch(repo: Path):
    (repo / "patches" / "series").write_text("    pkg/new.py\n0001-a.patch\n")
    with pytest.raises(SeriesError, match="before any patch"):
        read_series(repo / "patches")


def test_export_then_apply_reproduces_the_commits(tmp_path: Path, repo: Path):
    work = make_pristine(tmp_path / "work")
    (work / "pkg" / "module.py").write_text("VALUE = 2\n")
    (work / "pkg" / "new.py").write_text("NEW = True\n")
    commit(work, "Change the value and add a module")
    (work / "pkg" / "other.py").write_text("OTHER = 2\n")
    commit(work, "Change the other module")
    (work / "tests").mkdir()
    (work / "tests" / "test_new.py").write_text("def test(): pass\n")
    commit(work, "Only add a test")

    entries = export_series(work, repo)

    assert [e.added_files for e in entries] == [["pkg/new.py"], [], ["tests/test_new.py"]]
    assert (repo / "added" / "pkg" / "new.py").read_text() == "NEW = True\n"
    assert not (repo / "pkg").exists(), "added files are kept apart from the line's metadata"
    first_patch = (repo / "patches" / entries[0].patch).read_text()
    assert "pkg/module.py" in first_patch
    assert "pkg/new.py" not in first_patch, "added files live as plain files, not in the patch"
    assert read_series(repo / "patches") == entries

    fresh = make_pristine(tmp_path / "fresh")
    assert apply_series(fresh, repo) == 3
    assert git.run(fresh, "log", "--format=%s", "pristine..HEAD").splitlines() == [
        "Only add a test",
        "Change the other module",
        "Change the value and add a module",
    ]
    assert git.run(fresh, "diff", "HEAD", "--stat") == ""
    for path in ("pkg/module.py", "pkg/new.py", "pkg/other.py", "tests/test_new.py"):
        assert (fresh / path).read_text() == (work / path).read_text()
    # The first commit carries both its patch and the file it adds.
    assert git.run(fresh, "show", "--format=", "--name-only", "HEAD~2").split() == [
        "pkg/module.py",
        "pkg/new.py",
    ]


def test_export_refuses_a_later_change_to_an_added_file(tmp_path: Path, repo: Path):
    work = make_pristine(tmp_path / "work")
    (work / "pkg" / "new.py").write_text("NEW = 1\n")
    commit(work, "Add")
    (work / "pkg" / "new.py").write_text("NEW = 2\n")
    commit(work, "Change the added file later")
    with pytest.raises(SeriesError, match="Fold the change into the commit that adds the file"):
        export_series(work, repo)


def test_export_refuses_uncommitted_changes(tmp_path: Path, repo: Path):
    work = make_pristine(tmp_path / "work")
    (work / "pkg" / "module.py").write_text("VALUE = 3\n")
    commit(work, "Change")
    (work / "pkg" / "module.py").write_text("VALUE = 4\n")
    with pytest.raises(SeriesError, match="uncommitted changes"):
        export_series(work, repo)


def test_apply_reports_a_patch_that_does_not_apply(tmp_path: Path, repo: Path):
    work = make_pristine(tmp_path / "work")
    (work / "pkg" / "module.py").write_text("VALUE = 2\n")
    commit(work, "Change")
    export_series(work, repo)

    other = tmp_path / "other"
    (other / "pkg").mkdir(parents=True)
    (other / "pkg" / "module.py").write_text("SOMETHING_ELSE = 1\n")
    git.init(other)
    git.commit_all(other, "a different upstream")
    with pytest.raises(SeriesError, match="does not apply"):
        apply_series(other, repo)
    assert git.run(other, "status", "--porcelain") == "", "a failed apply leaves the tree as it was"


def test_apply_names_a_missing_added_file(tmp_path: Path, repo: Path):
    fresh = make_pristine(tmp_path / "fresh")
    (repo / "patches" / "0001-empty.patch").write_text(
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: A <a@example.com>\nDate: Sat, 1 Jan 2000 00:00:00 +0000\nSubject: [PATCH] Empty\n\n"
    )
    write_series(repo / "patches", [Entry("0001-empty.patch", ["pkg/missing.py"])])
    with pytest.raises(SeriesError, match="pkg/missing.py, which is not in .*added; put the file there"):
        apply_series(fresh, repo)
