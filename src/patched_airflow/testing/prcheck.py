"""
Check the upstream PR export: it applies with ``git am`` to a fresh pristine tree, and builds the same
wheels; for the ``upstream_pr`` line, each pull request of ``dist/upstream-pr/`` applies on top of the
ones before it (the first alone), with its text and its newsfragment.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

from patched_airflow import git
from patched_airflow.building.assemble import assemble_pristine
from patched_airflow.building.pr_export import pull_requests, series_commits, spans
from patched_airflow.building.wheels import build_wheels
from patched_airflow.lines import Line, Lines

# A newsfragment as upstream's towncrier configuration names them: <PR number>.<type>.rst.
NEWSFRAGMENT = re.compile(
    r"airflow-core/newsfragments/\d+\.(significant|feature|improvement|bugfix|doc|misc)\.rst"
)
# A pull request that builds on the ones before it says so in its text.
DEPENDS_ON = re.compile(r"^\W*Depends on\b", re.MULTILINE)


def wheel_contents(wheel: Path) -> dict[str, str]:
    """Each member of a wheel with the sha256 of its bytes (timestamps in the zip do not count)."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()}


def check_upstream_pr(repo: Path, line: Line, uv: str) -> int:
    """``git am`` the line's export onto a fresh pristine tree: the build's tree, the same wheels."""
    pins, build, dist = line.pins, line.build, line.dist
    patches = sorted(line.upstream_pr.glob("*.patch"))
    if not patches:
        print(f"{line.upstream_pr} holds no patches; run ./build.sh")
        return 1
    fresh = build / "pr-check" / "tree"
    assemble_pristine(pins, repo, fresh, repo / "build" / "sdists")
    git.run(fresh, "am", "-q", "--committer-date-is-author-date", *map(str, patches))
    applied = git.run(fresh, "rev-parse", "HEAD^{tree}").strip()
    expected = git.run(line.tree, "rev-parse", "HEAD^{tree}").strip()
    print(f"git am of {len(patches)} patches onto a fresh pristine tree: tree {applied[:12]}")
    if applied != expected:
        print(f"  differs from the build's tree {expected[:12]}:")
        print(git.run(fresh, "diff", "--stat", expected, "HEAD"))
        return 1

    failures = check_pull_requests(repo, line) if line.name == Lines.load(repo).upstream_pr else 0
    rebuilt = build_wheels(pins, fresh, build / "pr-check" / "wheel-src", build / "pr-check" / "dist", uv)
    for wheel in rebuilt:
        original = dist / wheel.name
        if not original.exists():
            print(f"  {wheel.name}: not among the built wheels")
            failures += 1
            continue
        ours, theirs = wheel_contents(original), wheel_contents(wheel)
        if differing := sorted(
            name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name)
        ):
            print(f"  {wheel.name}: {len(differing)} members differ, e.g. {differing[:5]}")
            failures += 1
        else:
            print(f"  {wheel.name}: the same {len(ours)} files as dist/")
    return 1 if failures else 0


def check_pull_requests(repo: Path, line: Line) -> int:
    """
    ``dist/upstream-pr/``: one folder a pull request of ``lines/lines.toml``, in order, each with its
    share of the series and its text. On a fresh pristine tree, the first applies alone and each
    next one on top of those before it, giving the build's tree at that point of the series; each
    adds one newsfragment, and each after the first says what it depends on.
    """
    out = repo / "dist" / "upstream-pr"
    prs = pull_requests(repo)
    commits = series_commits(line)
    expected = [pr.folder(position) for position, pr in enumerate(prs, start=1)]
    found = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if found != sorted(expected):
        print(
            f"{out.relative_to(repo)} holds {found or 'nothing'}, not the pull requests {expected}; run ./build.sh"
        )
        return 1
    fresh = line.build / "pr-check" / "pull-requests"
    assemble_pristine(line.pins, repo, fresh, repo / "build" / "sdists")
    failures = 0
    for folder, pr, (start, stop) in zip(expected, prs, spans(prs, len(commits)), strict=True):
        patches = sorted((out / folder).glob("*.patch"))
        problems = []
        if len(patches) != stop - start:
            problems.append(f"{len(patches)} patches, not the series' {start + 1}..{stop}")
        text = out / folder / "PR_DESCRIPTION.md"
        if not text.is_file() or text.read_bytes() != (repo / pr.description).read_bytes():
            problems.append(f"PR_DESCRIPTION.md is not {pr.description}")
        elif start and not DEPENDS_ON.search(text.read_text()):
            problems.append(
                f"its text ({pr.description}) has no 'Depends on' line for the pull requests before it"
            )
        before = git.run(fresh, "rev-parse", "HEAD").strip()
        try:
            git.run(fresh, "am", "-q", "--committer-date-is-author-date", *map(str, patches))
        except subprocess.CalledProcessError as error:
            print(f"  {folder}: git am failed on top of {'pristine' if not start else 'the ones before it'}:")
            print(error.stderr.strip())
            return 1
        applied = git.run(fresh, "rev-parse", "HEAD^{tree}").strip()
        if applied != git.run(line.tree, "rev-parse", f"{commits[stop - 1]}^{{tree}}").strip():
            problems.append(f"its tree differs from the build's after patch {stop}")
        added = git.run(
            fresh,
            "diff",
            "--name-only",
            "--diff-filter=A",
            before,
            "HEAD",
            "--",
            "airflow-core/newsfragments",
        )
        fragments = [name for name in added.split() if NEWSFRAGMENT.fullmatch(name)]
        if len(fragments) != 1:
            problems.append(f"adds {len(fragments)} newsfragments (<n>.<type>.rst), not one")
        base = "pristine" if not start else "+".join(expected[: expected.index(folder)])
        if problems:
            print(f"  {folder}: " + "; ".join(problems))
            failures += 1
        else:
            print(f"  {folder}: {len(patches)} patches apply with git am on {base}; {fragments[0]}")
    return failures
