"""Command line of the build tool: ``python -m patched_airflow <command>`` (see README). It only parses and dispatches."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from patched_airflow.building.series import SeriesError
from patched_airflow.lines import REPO, Lines
from patched_airflow.pins import UpstreamError
from patched_airflow.testing.suites import SUITES


def cmd_build(args: argparse.Namespace) -> int:
    from patched_airflow.building.builder import build

    return build(REPO, args.uv, args.line, demo=not args.no_demo)


def cmd_venv(args: argparse.Namespace) -> int:
    from patched_airflow.venvs import ensure_venv

    line = Lines.load(REPO).one(args.line)
    if len(wheels := line.wheels) != 2:
        print(f"{line.dist} does not hold the two patched wheels; run ./build.sh first", file=sys.stderr)
        return 2
    ensure_venv(args.uv, line, wheels, args.extra, line.venv)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from patched_airflow.testing.session import run_tests

    return run_tests(
        REPO, args.uv, args.line, args.backend, args.test_type, args.wheels, args.suite, args.pytest_args
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from patched_airflow.bench.run import bench_line

    return bench_line(
        REPO, args.uv, args.line, args.quick, args.backend, docs=not args.no_docs, saved=args.report
    )


def cmd_workspace(args: argparse.Namespace) -> int:
    from patched_airflow.building.workspace import make_workspace

    return make_workspace(REPO, Lines.load(REPO).one(args.line), args.force)


def cmd_export(args: argparse.Namespace) -> int:
    from patched_airflow.building.workspace import export_workspace

    return export_workspace(REPO, Lines.load(REPO).one(args.line))


def cmd_port(args: argparse.Namespace) -> int:
    from patched_airflow.building.workspace import port_commit

    lines = Lines.load(REPO)
    return port_commit(REPO, lines.one(args.from_line), lines.one(args.to_line), args.commit)


def cmd_added_files(args: argparse.Namespace) -> int:
    from patched_airflow.building.crossline import write_report

    print(f"wrote {write_report(REPO, list(Lines.load(REPO).lines.values())).relative_to(REPO)}")
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
    port = commands.add_parser(
        "port", help="cherry-pick a commit of work/<from> onto work/<to> (Origin: trailer), export <to>"
    )
    port.add_argument(
        "--from", dest="from_line", required=True, metavar="LINE", help="the line it comes from"
    )
    port.add_argument("--to", dest="to_line", required=True, metavar="LINE", help="the line it goes to")
    port.add_argument("commit", help="a commit of work/<from> (a sha, or e.g. HEAD)")
    port.set_defaults(func=cmd_port)
    added = commands.add_parser(
        "added-files", help="rewrite lines/ADDED-FILES.md: each added file across lines"
    )
    added.set_defaults(func=cmd_added_files)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UpstreamError, SeriesError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        print(f"error: {e}" + (f"\n{detail}" if detail else ""), file=sys.stderr)
        return 1
