"""Check the upstream PR export: it applies with ``git am`` to a fresh pristine tree, and builds the same wheels."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from patched_airflow import git
from patched_airflow.building.assemble import assemble_pristine
from patched_airflow.building.wheels import build_wheels
from patched_airflow.lines import Line


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

    rebuilt = build_wheels(pins, fresh, build / "pr-check" / "wheel-src", build / "pr-check" / "dist", uv)
    failures = 0
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
