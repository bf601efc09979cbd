"""``./dev.sh port``: a commit of one line's work tree carried to another's, with its origin, and exported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patched_airflow import git
from patched_airflow.building import workspace
from patched_airflow.building.series import SeriesError, apply_series, read_series
from patched_airflow.lines import Line

AUTHOR = {"GIT_AUTHOR_NAME": "A Fixer", "GIT_AUTHOR_EMAIL": "fixer@example.com"}
DATE = "2026-05-01T12:00:00+00:00"


def make_line(repo: Path, name: str, module: str) -> Line:
    """A tiny line: its pristine tree holds pkg/module.py with ``module``; its series is empty."""
    folder = repo / "lines" / name
    (folder / "patches").mkdir(parents=True)
    (folder / "patches" / "series").write_text("")
    (folder / "pristine" / "pkg").mkdir(parents=True)
    (folder / "pristine" / "pkg" / "module.py").write_text(module)
    return Line(name, folder, repo / "build" / name, repo / "dist" / name)


def fake_assemble(line: Line, target: Path) -> None:
    """What assemble does, from the tiny line's pristine folder instead of sdists."""
    shutil.copytree(line.folder / "pristine", target)
    git.init(target)
    git.commit_all(target, "pristine")
    git.run(target, "tag", "pristine")
    apply_series(target, line.folder)


@pytest.fixture
def lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Line, Line]:
    monkeypatch.setattr(workspace, "assemble", fake_assemble)
    repo = tmp_path / "repo"
    old = make_line(repo, "3.3", "A = 1\nB = 2\n\n\nC = 3\n")
    new = make_line(repo, "3.4", "A = 1\nB = 2\n\n\nC = 3\nD = 4\n")
    work = workspace.workspace_of(repo, old)
    fake_assemble(old, work)
    (work / "pkg" / "module.py").write_text("A = 1\nB = 20\n\n\nC = 3\n")
    (work / "pkg" / "added.py").write_text("ADDED = True\n")
    git.run(work, "add", "-A")
    git.run(work, "commit", "-q", "-m", "Fix B\n\nB was off by ten.", env={**AUTHOR, "GIT_AUTHOR_DATE": DATE})
    return repo, old, new


def test_port_carries_the_commit_with_its_origin_and_exports_the_target(lines, capsys):
    repo, old, new = lines
    assert not workspace.workspace_of(repo, new).exists()

    assert workspace.port_commit(repo, old, new, "HEAD") == 0

    work = workspace.workspace_of(repo, new)
    assert (work / "pkg" / "module.py").read_text() == "A = 1\nB = 20\n\n\nC = 3\nD = 4\n"
    message = git.run(work, "log", "-1", "--format=%B").strip()
    assert message == "Fix B\n\nB was off by ten.\n\nOrigin: lines/3.3, Fix B"
    assert (
        git.run(work, "log", "-1", "--format=%an <%ae> %aI").strip() == f"A Fixer <fixer@example.com> {DATE}"
    )
    entries = read_series(new.patches)
    assert [entry.added_files for entry in entries] == [["pkg/added.py"]]
    patch = (new.patches / entries[0].patch).read_text()
    assert "Origin: lines/3.3, Fix B" in patch and "From: A Fixer <fixer@example.com>" in patch
    assert (new.added / "pkg" / "added.py").read_text() == "ADDED = True\n"
    assert "ported from work/3.3 onto work/3.4" in capsys.readouterr().out
    assert not git.run(work, "for-each-ref", "refs/ports"), "no helper ref is left behind"


def test_port_stops_at_a_conflict_and_says_how_to_continue(lines, capsys):
    repo, old, new = lines
    work = workspace.workspace_of(repo, new)
    fake_assemble(new, work)
    (work / "pkg" / "module.py").write_text("A = 1\nB = 200\n\n\nC = 3\nD = 4\n")
    git.run(work, "commit", "-q", "-am", "Another B")

    assert workspace.port_commit(repo, old, new, "HEAD") == 1

    err = capsys.readouterr().err
    assert "stopped at a conflict in pkg/module.py" in err
    assert "git cherry-pick --continue --no-edit" in err and "./dev.sh export --line 3.4" in err
    assert read_series(new.patches) == [], "nothing is exported while the conflict is open"
    (work / "pkg" / "module.py").write_text("A = 1\nB = 20\n\n\nC = 3\nD = 4\n")
    git.run(work, "add", "pkg/module.py")
    git.run(work, "cherry-pick", "--continue", "--no-edit", env={"GIT_EDITOR": "true"})
    assert (
        git.run(work, "log", "-1", "--format=%(trailers:key=Origin,valueonly)").strip() == "lines/3.3, Fix B"
    )


def test_port_refuses_a_missing_source_work_tree_or_commit(lines):
    repo, old, new = lines
    with pytest.raises(
        SeriesError, match=r"work/3\.4 does not exist: make it with ./dev.sh workspace --line 3\.4"
    ):
        workspace.port_commit(repo, new, old, "HEAD")
    with pytest.raises(SeriesError, match=r"no-such-commit is not a commit of work/3\.3"):
        workspace.port_commit(repo, old, new, "no-such-commit")
