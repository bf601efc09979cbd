"""Building lines: assemble, patch, build the wheels and the upstream PR export, stamp; the demo."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from patched_airflow.building.assemble import assemble
from patched_airflow.building.demo import run_demo
from patched_airflow.building.fetch import Missing, describe_missing, obtain_upstream_files
from patched_airflow.building.pr_export import export_upstream_pr, publish_upstream_pr
from patched_airflow.building.stamp import inputs_digest, read_missing, write_missing
from patched_airflow.building.wheels import build_wheels
from patched_airflow.lines import Line, Lines
from patched_airflow.venvs import ensure_venv


def skip_notice(line: Line, missing: list[Missing]) -> str:
    """The one line that says a line's upstream PR export was skipped, and why."""
    return f"{line.name}: upstream PR export SKIPPED: {describe_missing(missing)}"


def build_line(repo: Path, line: Line, uv: str) -> tuple[list[Path], list[Missing]]:
    """
    Assemble, patch and build one line; write its upstream PR export; return its wheels, and the
    pinned upstream files its tree lacks (then the wheels are built, but not the export).
    """
    missing = assemble(line, line.tree, partial=True)
    wheels = build_wheels(line.pins, line.tree, line.build / "wheel-src", line.dist, uv)
    if missing:
        # An export of a tree without those files would not be the series: none is better than that.
        if line.upstream_pr.exists():
            shutil.rmtree(line.upstream_pr)
        print(skip_notice(line, missing), flush=True)
        for m in missing:
            print(f"  {m.file.path}: {m.reason}", flush=True)
    else:
        patches = export_upstream_pr(line.tree, line.upstream_pr)
        print(
            f"{line.name}: wrote {len(patches)} patches for upstream to {line.upstream_pr.relative_to(repo)}"
        )
    write_missing(line, {m.file.path: m.file.url for m in missing})
    (line.build / "inputs.sha256").write_text(inputs_digest(repo, line, [m.file.path for m in missing]))
    for wheel in wheels:
        print(f"{line.name}: built {wheel.relative_to(repo)}", flush=True)
    return wheels, missing


def ensure_built(repo: Path, uv: str, line: Line) -> list[Path]:
    """The line's two wheels, building first if the build is missing or older than the sources."""
    stamp = line.build / "inputs.sha256"
    wheels = line.wheels
    lacked = read_missing(line)
    stale = (
        len(wheels) != 2 or not stamp.exists() or stamp.read_text() != inputs_digest(repo, line, list(lacked))
    )
    if lacked and not stale:
        # Built without some upstream files: stale once they can be had (a whole build stays whole).
        pinned = [file for file in line.pins.upstream_files if file.path in lacked]
        if found := obtain_upstream_files(pinned, repo, line.sdist_cache)[0]:
            print(f"{', '.join(found)} can be had now; the {line.name} tree was built without them")
            stale = True
    if stale:
        print(f"The {line.name} build is missing or older than the sources; building it first")
        wheels, _ = build_line(repo, line, uv)
        publish_upstream_pr(Lines.load(repo), repo)
    return wheels


def build(repo: Path, uv: str, names: list[str] | None, demo: bool) -> int:
    """
    ``./build.sh``: build the named lines (every line by default), then the demo on one of them.

    Exits 0 when the wheels are built and the demo held, even if some line's upstream PR export was
    skipped for want of upstream files (the final summary says so again).
    """
    started = time.monotonic()
    lines = Lines.load(repo)
    selected = lines.select(names)
    built, skipped = {}, []
    for line in selected:
        built[line.name], missing = build_line(repo, line, uv)
        if missing:
            skipped.append(skip_notice(line, missing))
    publish_upstream_pr(lines, repo)
    held = True
    if demo:
        # The demo runs on the default (stable) line, or on the one line asked for.
        line = lines.lines[lines.default] if lines.default in built else selected[0]
        print(f"\nDemo on the {line.name} line (apache-airflow=={line.airflow_version} + its patched wheels)")
        venv = ensure_venv(uv, line, built[line.name], [], line.venv)
        held = run_demo(venv, repo / "demo" / "dags")
    print(
        f"Build of {', '.join(built)} finished in {time.monotonic() - started:.0f}s"
        + ("" if demo else " (demo skipped)")
    )
    for notice in skipped:
        print(notice)
    return 0 if held else 1
