"""The patch-queue workflow (``./dev.sh``): a line as a git work tree, and its commits back to the series."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from patched_airflow.building.assemble import assemble
from patched_airflow.building.series import export_series
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
