"""
The patch-queue workflow (``./dev.sh``): a line as a git work tree, its commits back to the series, and
a commit of one line's work tree carried to another's (``port``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from patched_airflow import git
from patched_airflow.building.assemble import assemble
from patched_airflow.building.series import SeriesError, export_series
from patched_airflow.lines import Line


def workspace_of(repo: Path, line: Line) -> Path:
    return repo / "work" / line.name


def make_workspace(repo: Path, line: Line, force: bool) -> int:
    """Materialize ``work/<line>``: the pristine tree plus the line's series, one commit per patch."""
    work = workspace_of(repo, line)
    if work.exists():
        if not force:
            print(f"{work} exists; export it first, or pass --force to throw it away", file=sys.stderr)
            return 2
        shutil.rmtree(work)
    assemble(line, work)
    print(f"Edit and commit in {work.relative_to(repo)}; then run ./dev.sh export --line {line.name}")
    return 0


def export_workspace(repo: Path, line: Line) -> int:
    """Write ``work/<line>``'s commits back to the line's series and added files."""
    for entry in export_series(workspace_of(repo, line), line.folder):
        print(entry.patch)
        for path in entry.added_files:
            print(f"    {path}")
    return 0


def origin_trailer(line: Line, subject: str) -> str:
    """The trailer a ported commit carries: where it comes from (as DEP-3's ``Origin:``)."""
    return f"Origin: lines/{line.name}, {subject}"


def port_commit(repo: Path, source: Line, target: Line, commit: str) -> int:
    """
    Carry ``commit`` of ``work/<source>`` to ``work/<target>`` (materialized if absent) and export it.

    The commit is cherry-picked with its author and date, and its message gains an ``Origin:`` trailer
    naming the line and subject it came from. On a conflict it stops with the cherry-pick in progress
    (the message, trailer included, is kept for ``git cherry-pick --continue``); the export is then
    left to ``./dev.sh export``.
    """
    source_work, target_work = workspace_of(repo, source), workspace_of(repo, target)
    if not (source_work / ".git").is_dir():
        raise SeriesError(
            f"{source_work.relative_to(repo)} does not exist: make it with ./dev.sh workspace --line "
            f"{source.name}, commit the fix there, then port that commit"
        )
    try:
        sha = git.run(source_work, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").strip()
    except subprocess.CalledProcessError:
        raise SeriesError(f"{commit} is not a commit of {source_work.relative_to(repo)}") from None
    if not target_work.exists():
        assemble(target, target_work)
    if git.run(target_work, "status", "--porcelain", "--untracked-files=no"):
        raise SeriesError(
            f"{target_work.relative_to(repo)} has uncommitted changes (or a cherry-pick in progress); "
            "commit, finish or abort them first"
        )
    # The commit's objects, under a ref of their own so that the sha is reachable in the target.
    git.run(source_work, "update-ref", f"refs/ports/{sha}", sha)
    git.run(target_work, "fetch", "-q", "--no-tags", str(source_work), f"+refs/ports/{sha}:refs/ports/{sha}")
    git.run(source_work, "update-ref", "-d", f"refs/ports/{sha}")
    subject = git.run(source_work, "log", "-1", "--format=%s", sha).strip()
    message = git.run(
        target_work,
        "interpret-trailers",
        "--trailer",
        origin_trailer(source, subject),
        input=git.run(source_work, "log", "-1", "--format=%B", sha),
    )
    name = f"work/{target.name}"
    try:
        git.run(target_work, "cherry-pick", "--allow-empty", sha)
    except subprocess.CalledProcessError as e:
        if not (target_work / ".git" / "CHERRY_PICK_HEAD").exists():
            raise
        (target_work / ".git" / "MERGE_MSG").write_text(message)
        conflicts = git.run(target_work, "diff", "--name-only", "--diff-filter=U").split()
        if not conflicts:
            print(
                f"{subject}: {name} already has this change (the cherry-pick is empty); "
                "`git cherry-pick --skip` there, or `--abort`",
                file=sys.stderr,
            )
            return 1
        print(
            f"{subject}: the cherry-pick onto {name} stopped at a conflict in "
            f"{', '.join(conflicts)}.\n{e.stdout}{e.stderr}"
            f"Resolve it in {name} (edit the files, git add them), then `git cherry-pick --continue "
            f"--no-edit` (the message keeps its Origin trailer) and `./dev.sh export --line {target.name}`;"
            f" or give up with `git cherry-pick --abort`.",
            file=sys.stderr,
        )
        return 1
    finally:
        git.run(target_work, "update-ref", "-d", f"refs/ports/{sha}")
    author_date = git.run(target_work, "log", "-1", "--format=%aI").strip()
    git.run(
        target_work,
        "commit",
        "-q",
        "--amend",
        "--no-verify",
        "-F",
        "-",
        input=message,
        env={"GIT_COMMITTER_DATE": author_date},
    )
    print(f"{subject}: ported from work/{source.name} onto {name}")
    return export_workspace(repo, target)
