"""Command line of the build tool: ``python -m patched_airflow <command>`` (see README)."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from patched_airflow import git
from patched_airflow.demo import run_demo
from patched_airflow.lines import Line, Lines
from patched_airflow.series import SeriesError, apply_series, export_series
from patched_airflow.testrun import SUITES, TEST_REQUIREMENTS, inputs_digest, run_suites
from patched_airflow.upstream import UpstreamError, assemble_pristine
from patched_airflow.wheels import build_wheels

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"


def assemble(line: Line, target: Path) -> None:
    """Assemble the line's pristine upstream plus its series at ``target``."""
    assemble_pristine(line.pins, REPO, target, REPO / "build" / "sdists")
    count = apply_series(target, line.folder)
    print(f"{line.name}: applied {count} patches to the pristine tree at {target}", flush=True)


def export_upstream_pr(tree: Path, out: Path, description: Path | None = None) -> list[Path]:
    """Write the series as ``git format-patch`` output against the pristine tree, with the PR text."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    git.run(tree, "format-patch", "-q", "--no-signature", "-o", str(out), "pristine..HEAD")
    if description is not None and description.exists():
        shutil.copy2(description, out / description.name)
    return sorted(out.glob("*.patch"))


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~\[;@ ]", requirement, maxsplit=1)[0].lower()


def ensure_venv(uv: str, line: Line, wheels: list[Path], extra: list[str], venv: Path) -> Path:
    """(Re)install ``apache-airflow==<the line's release>``, with ``wheels`` in place of its own."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    reinstall = []
    for wheel in wheels:
        reinstall += ["--reinstall-package", wheel.name.split("-")[0].replace("_", "-")]
    # The release's dependencies as of its release day, if the line says so (some distributions as of a
    # later day); a requirement the line names replaces the tool's own for the same distribution (e.g. the
    # Celery provider's pin).
    resolution = ["--exclude-newer", line.exclude_newer] if line.exclude_newer else []
    for distribution, date in line.exclude_newer_packages.items():
        resolution += ["--exclude-newer-package", f"{distribution}={date}"]
    replaced = {_distribution(requirement) for requirement in line.venv_requirements}
    extra = [requirement for requirement in extra if _distribution(requirement) not in replaced]
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *reinstall,
            *resolution,
            f"apache-airflow=={line.airflow_version}",
            *map(str, wheels),
            *extra,
            *line.venv_requirements,
        ],
        check=True,
    )
    return venv


AIRFLOW_DISTRIBUTIONS = ("apache-airflow-core", "apache-airflow-task-sdk")


def installed(uv: str, venv: Path) -> dict[str, str]:
    """``uv pip freeze`` of ``venv``: requirement line by distribution name."""
    freeze = subprocess.run(
        [uv, "pip", "freeze", "--quiet", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.strip() for line in freeze.splitlines() if line.strip()]
    return {re.split(r"\s*(?:==|@)", line, maxsplit=1)[0].lower(): line for line in lines}


def same_other_packages(uv: str, reference: Path, venv: Path) -> None:
    """Install into ``venv`` the versions ``reference`` has of every package but Airflow's own two."""
    wanted = {k: v for k, v in installed(uv, reference).items() if k not in AIRFLOW_DISTRIBUTIONS}
    current = installed(uv, venv)
    own = {k: v for k, v in current.items() if k in AIRFLOW_DISTRIBUTIONS}
    have = {k: v for k, v in current.items() if k not in AIRFLOW_DISTRIBUTIONS}
    if have == wanted:
        return
    print(f"Aligning {venv.name}'s packages with {reference.name}'s", flush=True)
    requirements = venv / "requirements-aligned.txt"
    requirements.write_text("\n".join([*wanted.values(), *own.values()]) + "\n")
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), str(requirements)],
        check=True,
    )
    have = {k: v for k, v in installed(uv, venv).items() if k not in AIRFLOW_DISTRIBUTIONS}
    if have != wanted:
        differ = sorted(set(have.items()) ^ set(wanted.items()))
        raise SystemExit(f"error: {venv} and {reference} still differ in: {differ}")


def build_line(line: Line, uv: str) -> list[Path]:
    """Assemble, patch and build one line; write its upstream PR export; return its wheels."""
    assemble(line, line.tree)
    wheels = build_wheels(line.pins, line.tree, line.build / "wheel-src", line.dist, uv)
    patches = export_upstream_pr(line.tree, line.upstream_pr)
    (line.build / "inputs.sha256").write_text(inputs_digest(REPO, line))
    print(f"{line.name}: wrote {len(patches)} patches for upstream to {line.upstream_pr.relative_to(REPO)}")
    for wheel in wheels:
        print(f"{line.name}: built {wheel.relative_to(REPO)}", flush=True)
    return wheels


def publish_upstream_pr(lines: Lines) -> None:
    """``dist/upstream-pr/``: the export of the line the upstream pull request comes from, with its text."""
    line = lines.lines[lines.upstream_pr]
    if not line.upstream_pr.is_dir():
        return
    out = DIST / "upstream-pr"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(line.upstream_pr, out)
    shutil.copy2(REPO / "docs" / "upstream-pr" / "PR_DESCRIPTION.md", out / "PR_DESCRIPTION.md")
    print(f"Wrote the upstream pull request (line {line.name}) to {out.relative_to(REPO)}")


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    lines = Lines.load(REPO)
    selected = lines.select(args.line)
    built = {line.name: build_line(line, args.uv) for line in selected}
    publish_upstream_pr(lines)
    if args.no_demo:
        print(f"Build of {', '.join(built)} finished in {time.monotonic() - started:.0f}s (demo skipped)")
        return 0
    # The demo runs on the default (stable) line, or on the one line asked for.
    line = lines.lines[lines.default] if lines.default in built else selected[0]
    print(f"\nDemo on the {line.name} line (apache-airflow=={line.airflow_version} + its patched wheels)")
    venv = ensure_venv(args.uv, line, built[line.name], [], line.venv)
    held = run_demo(venv, REPO / "demo" / "dags")
    print(f"Build of {', '.join(built)} finished in {time.monotonic() - started:.0f}s")
    return 0 if held else 1


def cmd_venv(args: argparse.Namespace) -> int:
    line = Lines.load(REPO).one(args.line)
    if len(wheels := line.wheels) != 2:
        print(f"{line.dist} does not hold the two patched wheels; run ./build.sh first", file=sys.stderr)
        return 2
    ensure_venv(args.uv, line, wheels, args.extra, line.venv)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    lines = Lines.load(REPO)
    outcome = 0
    for line in lines.select(args.line):
        wheels = ensure_built(args.uv, line)
        print(f"\n##### Line {line.name}: apache-airflow=={line.airflow_version} + {line.pins.local_label}")
        venv = ensure_venv(args.uv, line, wheels, TEST_REQUIREMENTS, line.venv)
        # The vanilla release beside it, for the comparisons (serialization bytes, mixed versions).
        vanilla = ensure_venv(args.uv, line, [], TEST_REQUIREMENTS, line.vanilla_venv)
        if args.wheels == "vanilla":
            print(
                f"Running the suites against VANILLA apache-airflow {line.airflow_version}: "
                "the contract tests are expected to fail."
            )
            venv = vanilla
        outcome |= run_suites(
            REPO,
            line,
            venv,
            args.backend,
            args.test_type,
            args.pytest_args,
            wheels=args.wheels,
            uv=args.uv,
            only=args.suite,
            default_line=line.name == lines.default,
            upgrade_from=upgrade_venv(args, lines, line),
        )
    return outcome


def upgrade_venv(args: argparse.Namespace, lines: Lines, line: Line) -> Path | None:
    """The patched virtualenv of the line ``line`` upgrades from, when the upgrade suite will run."""
    wanted = args.suite is None and args.test_type != "unit" or args.suite and "upgrade" in args.suite
    if not wanted or line.upgrade_from is None or args.wheels == "vanilla":
        return None
    earlier = lines.one(line.upgrade_from)
    return ensure_venv(args.uv, earlier, ensure_built(args.uv, earlier), TEST_REQUIREMENTS, earlier.venv)


def ensure_built(uv: str, line: Line) -> list[Path]:
    """The line's two wheels, building first if the build is missing or older than the sources."""
    stamp = line.build / "inputs.sha256"
    wheels = line.wheels
    if len(wheels) != 2 or not stamp.exists() or stamp.read_text() != inputs_digest(REPO, line):
        print(f"The {line.name} build is missing or older than the sources; building it first")
        wheels = build_line(line, uv)
        publish_upstream_pr(Lines.load(REPO))
    return wheels


def cmd_bench(args: argparse.Namespace) -> int:
    from patched_airflow.bench import BENCH_REQUIREMENTS, FULL, QUICK, report_saved, run_bench

    line = Lines.load(REPO).one(args.line)
    wheels = ensure_built(args.uv, line)
    print("Installing the two virtualenvs (reused when up to date)", flush=True)
    venvs = {
        "patched": ensure_venv(args.uv, line, wheels, BENCH_REQUIREMENTS, line.venv),
        "vanilla": ensure_venv(args.uv, line, [], BENCH_REQUIREMENTS, line.vanilla_venv),
    }
    if args.report:
        return report_saved(REPO, venvs, Path(args.report), write_docs=not args.no_docs)
    # The venvs grow at different times (the build's demo, the tests): pin vanilla's other
    # packages to the patched venv's, so that Airflow is the only difference measured.
    same_other_packages(args.uv, venvs["patched"], venvs["vanilla"])
    profile = QUICK if args.quick else FULL
    return run_bench(
        REPO, venvs, profile, args.backend, write_docs=not args.quick and not args.no_docs, line=line.name
    )


def workspace_of(line: Line) -> Path:
    return REPO / "work" / line.name


def cmd_workspace(args: argparse.Namespace) -> int:
    line = Lines.load(REPO).one(args.line)
    work = workspace_of(line)
    if work.exists():
        if not args.force:
            print(f"{work} exists; export it first, or pass --force to throw it away", file=sys.stderr)
            return 2
        shutil.rmtree(work)
    assemble(line, work)
    print(f"Edit and commit in {work.relative_to(REPO)}; then run ./dev.sh export --line {line.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    line = Lines.load(REPO).one(args.line)
    entries = export_series(workspace_of(line), line.folder)
    for entry in entries:
        print(entry.patch)
        for path in entry.added_files:
            print(f"    {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="patched_airflow", description=__doc__)
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv executable")
    commands = parser.add_subparsers(dest="command", required=True)
    every_line = {
        "action": "append",
        "metavar": "LINE",
        "help": "only this line (repeatable); default: every line",
    }
    one_line = {"metavar": "LINE", "help": "the line (a folder of lines/); default: lines.toml's default"}

    build = commands.add_parser("build", help="fetch, verify, patch, build wheels and the PR export; demo")
    build.add_argument("--line", **every_line)
    build.add_argument("--no-demo", action="store_true", help="skip the demo at the end")
    build.set_defaults(func=cmd_build)
    venv = commands.add_parser("venv", help="install apache-airflow==<the line's release> with its wheels")
    venv.add_argument("--line", **one_line)
    venv.add_argument("extra", nargs="*", help="more requirements to install beside them")
    venv.set_defaults(func=cmd_venv)
    test = commands.add_parser("test", help="run the test suite against the built wheels")
    test.add_argument("--line", **every_line)
    test.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    test.add_argument("--test-type", choices=["unit", "e2e", "all"], default="all")
    test.add_argument(
        "--wheels",
        choices=["patched", "vanilla"],
        default="patched",
        help="run the Airflow suites against the vanilla release instead, to see the contract tests fail",
    )
    test.add_argument(
        "--suite",
        action="append",
        choices=[suite.name for suite in SUITES],
        help="run only this suite (repeatable); default: every suite of the test type",
    )
    test.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    test.set_defaults(func=cmd_test)
    bench = commands.add_parser(
        "bench", help="benchmark the vanilla release against the patched build (./bench.sh)"
    )
    bench.add_argument("--line", **one_line)
    bench.add_argument("--quick", action="store_true", help="a reduced run (a few minutes); writes no docs")
    bench.add_argument(
        "--backend",
        choices=["auto", "postgres", "sqlite"],
        default="auto",
        help="auto: PostgreSQL if it answers",
    )
    bench.add_argument("--no-docs", action="store_true", help="a full run that leaves docs/ alone")
    bench.add_argument("--report", metavar="RESULTS_JSON", help="only report again from a saved results.json")
    bench.set_defaults(func=cmd_bench)
    workspace = commands.add_parser(
        "workspace", help="materialize work/<line>: pristine upstream + the line's series"
    )
    workspace.add_argument("--line", **one_line)
    workspace.add_argument("--force", action="store_true", help="replace an existing work/<line>")
    workspace.set_defaults(func=cmd_workspace)
    export = commands.add_parser("export", help="write work/<line>'s commits back to the line's folder")
    export.add_argument("--line", **one_line)
    export.set_defaults(func=cmd_export)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UpstreamError, SeriesError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        print(f"error: {e}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        return 1
