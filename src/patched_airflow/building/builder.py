"""Building lines: assemble, patch, build the wheels and the upstream PR export, stamp; the demo."""

from __future__ import annotations

import time
from pathlib import Path

from patched_airflow.building.assemble import assemble
from patched_airflow.building.demo import run_demo
from patched_airflow.building.pr_export import export_upstream_pr, publish_upstream_pr
from patched_airflow.building.stamp import inputs_digest
from patched_airflow.building.wheels import build_wheels
from patched_airflow.lines import Line, Lines
from patched_airflow.venvs import ensure_venv


def build_line(repo: Path, line: Line, uv: str) -> list[Path]:
    """Assemble, patch and build one line; write its upstream PR export; return its wheels."""
    assemble(line, line.tree)
    wheels = build_wheels(line.pins, line.tree, line.build / "wheel-src", line.dist, uv)
    patches = export_upstream_pr(line.tree, line.upstream_pr)
    (line.build / "inputs.sha256").write_text(inputs_digest(repo, line))
    print(f"{line.name}: wrote {len(patches)} patches for upstream to {line.upstream_pr.relative_to(repo)}")
    for wheel in wheels:
        print(f"{line.name}: built {wheel.relative_to(repo)}", flush=True)
    return wheels


def ensure_built(repo: Path, uv: str, line: Line) -> list[Path]:
    """The line's two wheels, building first if the build is missing or older than the sources."""
    stamp = line.build / "inputs.sha256"
    wheels = line.wheels
    if len(wheels) != 2 or not stamp.exists() or stamp.read_text() != inputs_digest(repo, line):
        print(f"The {line.name} build is missing or older than the sources; building it first")
        wheels = build_line(repo, line, uv)
        publish_upstream_pr(Lines.load(repo), repo)
    return wheels


def build(repo: Path, uv: str, names: list[str] | None, demo: bool) -> int:
    """``./build.sh``: build the named lines (every line by default), then the demo on one of them."""
    started = time.monotonic()
    lines = Lines.load(repo)
    selected = lines.select(names)
    built = {line.name: build_line(repo, line, uv) for line in selected}
    publish_upstream_pr(lines, repo)
    if not demo:
        print(f"Build of {', '.join(built)} finished in {time.monotonic() - started:.0f}s (demo skipped)")
        return 0
    # The demo runs on the default (stable) line, or on the one line asked for.
    line = lines.lines[lines.default] if lines.default in built else selected[0]
    print(f"\nDemo on the {line.name} line (apache-airflow=={line.airflow_version} + its patched wheels)")
    venv = ensure_venv(uv, line, built[line.name], [], line.venv)
    held = run_demo(venv, repo / "demo" / "dags")
    print(f"Build of {', '.join(built)} finished in {time.monotonic() - started:.0f}s")
    return 0 if held else 1
