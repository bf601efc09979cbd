"""The upstream pull request: each line's series as ``git format-patch`` output, and ``dist/upstream-pr/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from patched_airflow import git
from patched_airflow.lines import Lines


def export_upstream_pr(tree: Path, out: Path, description: Path | None = None) -> list[Path]:
    """Write the series as ``git format-patch`` output against the pristine tree, with the PR text."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    git.run(tree, "format-patch", "-q", "--no-signature", "-o", str(out), "pristine..HEAD")
    if description is not None and description.exists():
        shutil.copy2(description, out / description.name)
    return sorted(out.glob("*.patch"))


def publish_upstream_pr(lines: Lines, repo: Path) -> None:
    """``dist/upstream-pr/``: the export of the line the upstream pull request comes from, with its text."""
    line = lines.lines[lines.upstream_pr]
    out = repo / "dist" / "upstream-pr"
    if out.exists():
        shutil.rmtree(out)
    if not line.upstream_pr.is_dir():  # not built, or its export skipped: no stale copy is left either
        return
    shutil.copytree(line.upstream_pr, out)
    shutil.copy2(repo / "docs" / "upstream-pr" / "PR_DESCRIPTION.md", out / "PR_DESCRIPTION.md")
    print(f"Wrote the upstream pull request (line {line.name}) to {out.relative_to(repo)}")
