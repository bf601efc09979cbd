"""
``./bench.sh``: a line's vanilla Airflow release against its patched build, side by side, in one run.

The driver runs in the tool's environment and measures nothing itself: each measurement is a
script in ``probes/`` run with the python of the line's ``build/<line>/venv-vanilla`` or
``build/<line>/venv``, which prints JSON. Runs of the two installations alternate (ABAB, the first of
each pair swapping every round), each on a fresh copy of one metadata database migrated once (the
series has no schema change): PostgreSQL on 127.0.0.1:5432 when it answers, else SQLite. Everything
is written to ``build/bench/<line>/``; a full run also writes the line's results section of
``docs/benchmarks.md`` and its recovery plot.

The parts: ``profiles`` (how much a run measures), ``databases`` and ``runner``
(databases, running probes), ``measure`` (the measurements), ``summary`` (numbers and the
headline), ``render`` (the tables, docs/benchmarks.md), ``stats`` (percentiles, the noise
rule), ``probes/tables.py`` (the SQL of each line's tables).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from patched_airflow.bench.databases import Databases
from patched_airflow.bench.measure import (
    measure_recovery,
    measure_serialization,
    measure_stack,
    measure_ti_run,
)
from patched_airflow.bench.profiles import FULL, QUICK, Profile
from patched_airflow.bench.render import doc_files, render, write_doc
from patched_airflow.bench.runner import (
    PROBES,
    VARIANTS,
    Background,
    LoadSampler,
    Runner,
    loadavg,
    log,
    machine,
)
from patched_airflow.bench.summary import headline, summarize_results
from patched_airflow.building.builder import ensure_built
from patched_airflow.lines import Lines
from patched_airflow.venvs import TEST_REQUIREMENTS, ensure_venv, same_other_packages

# The test requirements (the stack harness and psycopg2 come with them) and the plot's matplotlib.
BENCH_REQUIREMENTS = [*TEST_REQUIREMENTS, "matplotlib"]


def line_of(venvs: dict[str, Path]) -> str:
    """The line whose virtualenvs these are: ``build/<line>/venv``."""
    return venvs["patched"].parent.name


def run_bench(
    repo: Path,
    venvs: dict[str, Path],
    profile: Profile,
    backend: str,
    write_docs: bool,
    line: str | None = None,
) -> int:
    line = line or line_of(venvs)
    work = repo / "build" / "bench" / line / profile.name
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    databases = Databases.choose(repo, work, backend)
    runner = Runner(repo, venvs, work, databases, Lines.load(repo).lines[line].release)
    started = time.monotonic()
    meta: dict[str, Any] = {
        "profile": profile.name,
        "line": line,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "load_before": loadavg(),
        "python": platform.python_version(),
        "database": f"{databases.server_version()} ({databases.backend}; a fresh copy of one migrated database per run)",
        "commit": subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "settings": asdict(profile),
    }
    log(f"{profile.name} benchmark of the {line} line, {meta['database']}; logs in {work / 'logs'}")
    with LoadSampler() as load:
        try:
            results = measure_all(runner, databases, venvs, profile)
        finally:
            databases.drop_all()
    meta.update(
        versions={variant: versions_of(results, variant) for variant in VARIANTS},
        load_after=loadavg(),
        load_samples=load.samples,
        wall_seconds=time.monotonic() - started,
    )
    (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return report(repo, venvs, work, meta, results, write_docs)


def measure_all(
    runner: Runner, databases: Databases, venvs: dict[str, Path], profile: Profile
) -> dict[str, Any]:
    """Every measurement, in the order that lets the quick profile overlap its setup."""
    results: dict[str, Any] = {}
    serialization = Background(lambda: measure_serialization(runner, profile))
    if profile.overlap_setup:
        log(f"2. serialization of a {profile.serialization_tasks}-task Dag, in the background")
        serialization.start()
    log("template database: airflow db migrate")
    databases.create_template(venvs["vanilla"], runner.env)
    if not profile.overlap_setup:
        log(f"2. serialization of a {profile.serialization_tasks}-task Dag")
        serialization.start()
        serialization.join()
    log(f"1. ti_run: {profile.ti_run_calls} calls per case and installation")
    results["ti_run"] = measure_ti_run(runner, profile, before_measuring=serialization.join)
    results["serialization"] = serialization.join()
    log(
        f"3+5. scheduler throughput ({profile.throughput_tasks} tasks) and checkpoint cost, "
        f"after a warm-up deployment of each installation ({profile.warmup_tasks} tasks)"
    )
    results["stack"] = measure_stack(runner, profile)
    log("4. recovery")
    results["recovery"] = measure_recovery(runner, profile)
    return results


def versions_of(results: dict[str, Any], variant: str) -> str:
    """The installation's Airflow distributions and versions, as its serialization probe saw them."""
    return next(
        ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        for r in results["serialization"]["runs"]
        if r["variant"] == variant
    )


def report(
    repo: Path,
    venvs: dict[str, Path],
    work: Path,
    meta: dict[str, Any],
    results: dict[str, Any],
    write_docs: bool,
) -> int:
    """Summaries, the table, the plot, and (``write_docs``) docs/benchmarks.md, from raw results."""
    summary = summarize_results(results)
    (work / "summary.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
    docs = repo / "docs"
    line = meta.get("line") or line_of(venvs)
    plot_name, summary_name = doc_files(line)
    plot = docs / plot_name if write_docs else work / "recovery.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plotted = make_plot(venvs["patched"], work, summary, plot)
    # docs/benchmarks.md links the plot relative to docs/; stdout names the file.
    text = render(summary, meta, (plot_name if write_docs else str(plot)) if plotted else None)
    print()
    print(text)
    if write_docs:
        write_doc(docs / "benchmarks.md", text, line)
        (docs / summary_name).write_text(json.dumps({"meta": meta, "summary": summary}, indent=1) + "\n")
        print(
            f"Wrote docs/benchmarks.md (the {line} line's results), {plot.relative_to(repo)}, docs/{summary_name}"
        )
    print(f"Raw results: {work / 'results.json'}; the {meta['profile']} run took {meta['wall_seconds']:.0f}s")
    print(headline(summary, meta["profile"]))
    return 0


def report_saved(repo: Path, venvs: dict[str, Path], results_file: Path, write_docs: bool) -> int:
    """Report again from a saved ``results.json`` (e.g. after changing the tables)."""
    saved = json.loads(results_file.read_text())
    return report(repo, venvs, results_file.parent, saved["meta"], saved["results"], write_docs)


def make_plot(patched: Path, work: Path, summary: dict[str, Any], target: Path) -> bool:
    data = work / "plot-data.json"
    settings = {"records": summary["recovery_records"], "every": summary["recovery_every"]}
    data.write_text(json.dumps({"recovery": summary["recovery"], "target": str(target), **settings}))
    result = subprocess.run(
        [str(patched / "bin" / "python"), str(PROBES / "plot.py"), str(data)], capture_output=True, text=True
    )
    if result.returncode != 0:
        print(f"warning: the plot failed: {result.stderr[-2000:]}", file=sys.stderr)
    return result.returncode == 0


def bench_line(
    repo: Path, uv: str, name: str | None, quick: bool, backend: str, docs: bool, saved: str | None
) -> int:
    """``./bench.sh``: the line's two installations made ready, then measured (or a saved run reported)."""
    line = Lines.load(repo).one(name)
    wheels = ensure_built(repo, uv, line)
    print("Installing the two virtualenvs (reused when up to date)", flush=True)
    venvs = {
        "patched": ensure_venv(uv, line, wheels, BENCH_REQUIREMENTS, line.venv),
        "vanilla": ensure_venv(uv, line, [], BENCH_REQUIREMENTS, line.vanilla_venv),
    }
    if saved:
        return report_saved(repo, venvs, Path(saved), write_docs=docs)
    # The venvs grow at different times (the build's demo, the tests): pin vanilla's other
    # packages to the patched venv's, so that Airflow is the only difference measured.
    same_other_packages(uv, venvs["patched"], venvs["vanilla"])
    profile = QUICK if quick else FULL
    return run_bench(repo, venvs, profile, backend, write_docs=not quick and docs, line=line.name)
