"""
The upstream pull requests: each line's series as ``git format-patch`` output, and ``dist/upstream-pr/``.

The ``upstream_pr`` line's series is posted as one or more pull requests, in series order:
``lines/lines.toml``'s ``[[pull_request]]`` entries (name, first patch, text). Each takes the patches
from its first one up to the next entry's first one (the last one to the end of the series), so every
patch is in exactly one pull request, and applies on top of the ones before it.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from patched_airflow import git
from patched_airflow.lines import Line, Lines
from patched_airflow.pins import UpstreamError

NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class PullRequest:
    """One upstream pull request of the ``upstream_pr`` line's series."""

    name: str
    # The position in the series (1 for its first patch) of this pull request's first patch.
    first_patch: int
    # Its text, relative to the repository; written beside its patches as PR_DESCRIPTION.md.
    description: str

    def folder(self, position: int) -> str:
        """Its folder in ``dist/upstream-pr/``: the position (1, 2, ...) says the order they apply in."""
        return f"{position}-{self.name}"


def pull_requests(repo: Path) -> list[PullRequest]:
    """``[[pull_request]]`` of ``lines/lines.toml``, in order; an entry that does not fit is an error."""
    where = "lines/lines.toml"
    entries = tomllib.loads((repo / where).read_text()).get("pull_request")
    if not entries:
        raise UpstreamError(
            f"{where}: no [[pull_request]]; name at least one (name, first_patch, description)"
        )
    prs = []
    for entry in entries:
        if set(entry) != {"name", "first_patch", "description"}:
            raise UpstreamError(f"{where}: a [[pull_request]] needs name, first_patch, description: {entry}")
        pr = PullRequest(entry["name"], entry["first_patch"], entry["description"])
        if not isinstance(pr.name, str) or not NAME.fullmatch(pr.name):
            raise UpstreamError(f"{where}: pull request name {pr.name!r} is not lower-case words and dashes")
        if not (repo / pr.description).is_file():
            raise UpstreamError(f"{where}: pull request {pr.name}: no file {pr.description}")
        prs.append(pr)
    firsts = [pr.first_patch for pr in prs]
    if firsts[0] != 1 or any(not isinstance(n, int) or n <= m for m, n in pairwise(firsts)):
        raise UpstreamError(f"{where}: first_patch must start at 1 and rise: {firsts}")
    if len({pr.name for pr in prs}) != len(prs):
        raise UpstreamError(f"{where}: two pull requests share a name")
    return prs


def spans(prs: list[PullRequest], count: int) -> list[tuple[int, int]]:
    """Each pull request's patches as 0-based ``(start, stop)`` positions in a series of ``count``."""
    bounds = [pr.first_patch - 1 for pr in prs] + [count]
    if bounds[-2] >= count:
        raise UpstreamError(
            f"lines/lines.toml: pull request {prs[-1].name} starts at patch {prs[-1].first_patch}, "
            f"but the series has {count}"
        )
    return list(pairwise(bounds))


def export_upstream_pr(
    tree: Path, out: Path, description: Path | None = None, revisions: str = "pristine..HEAD"
) -> list[Path]:
    """Write commits (the whole series by default) as ``git format-patch`` output, with the PR text."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    git.run(tree, "format-patch", "-q", "--no-signature", "-o", str(out), revisions)
    if description is not None and description.exists():
        shutil.copy2(description, out / "PR_DESCRIPTION.md")
    return sorted(out.glob("*.patch"))


def series_commits(line: Line) -> list[str]:
    """The built tree's commits after ``pristine``, one a patch, in series order."""
    return git.run(line.tree, "rev-list", "--reverse", "pristine..HEAD").split()


def publish_upstream_pr(lines: Lines, repo: Path) -> None:
    """``dist/upstream-pr/<n>-<name>/``: each pull request of the ``upstream_pr`` line, with its text."""
    line = lines.lines[lines.upstream_pr]
    out = repo / "dist" / "upstream-pr"
    if out.exists():
        shutil.rmtree(out)
    if not line.upstream_pr.is_dir():  # not built, or its export skipped: no stale copy is left either
        return
    prs = pull_requests(repo)
    commits = series_commits(line)
    for position, (pr, (start, stop)) in enumerate(zip(prs, spans(prs, len(commits)), strict=True), start=1):
        base = commits[start - 1] if start else "pristine"
        export_upstream_pr(
            line.tree, out / pr.folder(position), repo / pr.description, f"{base}..{commits[stop - 1]}"
        )
    print(
        f"Wrote the upstream pull requests (line {line.name}) to {out.relative_to(repo)}: "
        + ", ".join(pr.folder(position) for position, pr in enumerate(prs, start=1))
    )
