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
from patched_airflow.series import SeriesError, apply_series, export_series
from patched_airflow.testrun import SUITES, TEST_REQUIREMENTS, inputs_digest, run_suites
from patched_airflow.upstream import Pins, UpstreamError, assemble_pristine
from patched_airflow.wheels import build_wheels

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
DIST = REPO / "dist"
VENV = BUILD / "venv"
VANILLA_VENV = BUILD / "venv-vanilla"


def assemble(target: Path) -> Pins:
    """Assemble pristine upstream plus the series at ``target``; return the pins."""
    pins = Pins.load(REPO / "upstream.toml")
    assemble_pristine(pins, REPO, target, BUILD / "sdists")
    count = apply_series(target, REPO)
    print(f"Applied {count} patches to the pristine tree at {target}", flush=True)
    return pins


def export_upstream_pr(tree: Path, out: Path) -> list[Path]:
    """Write the series as ``git format-patch`` output against the pristine tree, with the PR text."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    git.run(tree, "format-patch", "-q", "--no-signature", "-o", str(out), "pristine..HEAD")
    description = REPO / "docs" / "upstream-pr" / "PR_DESCRIPTION.md"
    if description.exists():
        shutil.copy2(description, out / description.name)
    return sorted(out.glob("*.patch"))


def ensure_venv(uv: str, wheels: list[Path], extra: list[str], venv: Path = VENV) -> Path:
    """(Re)install ``apache-airflow==3.3.2``, with ``wheels`` in place of its own, into ``venv``."""
    if not (venv / "bin" / "python").exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    reinstall = []
    for wheel in wheels:
        reinstall += ["--reinstall-package", wheel.name.split("-")[0].replace("_", "-")]
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            *reinstall,
            "apache-airflow==3.3.2",
            *map(str, wheels),
            *extra,
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


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tree = BUILD / "tree"
    pins = assemble(tree)
    wheels = build_wheels(pins, tree, BUILD / "wheel-src", DIST, args.uv)
    patches = export_upstream_pr(tree, DIST / "upstream-pr")
    (BUILD / "inputs.sha256").write_text(inputs_digest(REPO))
    print(f"Wrote {len(patches)} patches for upstream to {DIST / 'upstream-pr'}")
    for wheel in wheels:
        print(f"Built {wheel.relative_to(REPO)}")
    if args.no_demo:
        print(f"Build finished in {time.monotonic() - started:.0f}s (demo skipped)")
        return 0
    venv = ensure_venv(args.uv, wheels, [])
    held = run_demo(venv, REPO / "demo" / "dags")
    print(f"Build finished in {time.monotonic() - started:.0f}s")
    return 0 if held else 1


def cmd_venv(args: argparse.Namespace) -> int:
    wheels = sorted(DIST.glob("*.whl"))
    if len(wheels) != 2:
        print("dist/ does not hold the two patched wheels; run ./build.sh first", file=sys.stderr)
        return 2
    ensure_venv(args.uv, wheels, args.extra)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    if (wheels := ensure_built(args.uv)) is None:
        return 1
    venv = ensure_venv(args.uv, wheels, TEST_REQUIREMENTS)
    # Vanilla 3.3.2 beside it, for the comparisons (serialization bytes, mixed versions).
    vanilla = ensure_venv(args.uv, [], TEST_REQUIREMENTS, VANILLA_VENV)
    if args.wheels == "vanilla":
        print(
            "Running the suites against VANILLA apache-airflow 3.3.2: the contract tests are expected to fail."
        )
        venv = vanilla
    return run_suites(
        REPO,
        venv,
        vanilla,
        BUILD / "tree",
        args.backend,
        args.test_type,
        args.pytest_args,
        args.wheels,
        args.uv,
        args.suite,
    )


def ensure_built(uv: str) -> list[Path] | None:
    """The two wheels, building first if the build is missing or older than the sources."""
    stamp = BUILD / "inputs.sha256"
    wheels = sorted(DIST.glob("*.whl"))
    if len(wheels) != 2 or not stamp.exists() or stamp.read_text() != inputs_digest(REPO):
        print("The build is missing or older than the sources; building first (./build.sh --no-demo)")
        if cmd_build(argparse.Namespace(uv=uv, no_demo=True)):
            return None
        wheels = sorted(DIST.glob("*.whl"))
    return wheels


def cmd_bench(args: argparse.Namespace) -> int:
    from patched_airflow.bench import BENCH_REQUIREMENTS, FULL, QUICK, report_saved, run_bench

    if (wheels := ensure_built(args.uv)) is None:
        return 1
    print("Installing the two virtualenvs (reused when up to date)", flush=True)
    venvs = {
        "patched": ensure_venv(args.uv, wheels, BENCH_REQUIREMENTS),
        "vanilla": ensure_venv(args.uv, [], BENCH_REQUIREMENTS, VANILLA_VENV),
    }
    if args.report:
        return report_saved(REPO, venvs, Path(args.report), write_docs=not args.no_docs)
    # The venvs grow at different times (the build's demo, the tests): pin vanilla's other
    # packages to the patched venv's, so that Airflow is the only difference measured.
    same_other_packages(args.uv, venvs["patched"], venvs["vanilla"])
    profile = QUICK if args.quick else FULL
    return run_bench(REPO, venvs, profile, args.backend, write_docs=not args.quick and not args.no_docs)


def cmd_workspace(args: argparse.Namespace) -> int:
    work = REPO / "work"
    if work.exists():
        if not args.force:
            print(f"{work} exists; export it first, or pass --force to throw it away", file=sys.stderr)
            return 2
        shutil.rmtree(work)
    assemble(work)
    print(f"Edit and commit in {work}; then run ./dev.sh export")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    entries = export_series(REPO / "work", REPO)
    for entry in entries:
        print(entry.patch)
        for path in entry.added_files:
            print(f"    {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="patched_airflow", description=__doc__)
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv executable")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="fetch, verify, patch, build wheels and the PR export; demo")
    build.add_argument("--no-demo", action="store_true", help="skip the demo at the end")
    build.set_defaults(func=cmd_build)
    venv = commands.add_parser("venv", help="install apache-airflow==3.3.2 with the built wheels")
    venv.add_argument("extra", nargs="*", help="more requirements to install beside them")
    venv.set_defaults(func=cmd_venv)
    test = commands.add_parser("test", help="run the test suite against the built wheels")
    test.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    test.add_argument("--test-type", choices=["unit", "e2e", "all"], default="all")
    test.add_argument(
        "--wheels",
        choices=["patched", "vanilla"],
        default="patched",
        help="run the Airflow suites against vanilla 3.3.2 instead, to see the contract tests fail",
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
        "bench", help="benchmark vanilla 3.3.2 against the patched build (./bench.sh)"
    )
    bench.add_argument("--quick", action="store_true", help="a reduced run (under 3 minutes); writes no docs")
    bench.add_argument(
        "--backend",
        choices=["auto", "postgres", "sqlite"],
        default="auto",
        help="auto: PostgreSQL if it answers",
    )
    bench.add_argument("--no-docs", action="store_true", help="a full run that leaves docs/ alone")
    bench.add_argument("--report", metavar="RESULTS_JSON", help="only report again from a saved results.json")
    bench.set_defaults(func=cmd_bench)
    workspace = commands.add_parser("workspace", help="materialize ./work: pristine upstream + the series")
    workspace.add_argument("--force", action="store_true", help="replace an existing ./work")
    workspace.set_defaults(func=cmd_workspace)
    commands.add_parser(
        "export", help="write ./work's commits back to patches/ and plain files"
    ).set_defaults(func=cmd_export)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UpstreamError, SeriesError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        print(f"error: {e}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        return 1
