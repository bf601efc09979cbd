"""
The test suite behind ``./test.sh``, run against the built wheels (in the spirit of breeze).

Suites:

* ``tool``: this repository's tests of the build tool.
* ``fresh-clone``: ``./build.sh --line 3.3`` in a fresh clone, without the upstream files the sdists
  lack and without GitHub: the wheels and the demo still build (``tests/fresh_clone``).
* ``sdk`` and ``core``: the tests the series adds or changes upstream, run from the assembled tree
  (pristine upstream + series) with the compatible ``tests_common`` harness in
  ``tests/upstream_compat`` and its conftest overlay.
* ``e2e``: real Airflow processes and commands through the installed wheels (``tests/e2e``).
* ``contract``: a whole deployment of real processes (api-server, scheduler with the LocalExecutor,
  dag-processor, triggerer) on the suite's database, driven through the REST API and the CLI
  (``tests/stack/contract``, harness in ``tests/stack/stack.py``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from patched_airflow.backends import database_url
from patched_airflow.building.fetch import obtain_upstream_files
from patched_airflow.building.stamp import read_missing
from patched_airflow.lines import Line, UpstreamTests
from patched_airflow.testing.control import RunTests, run_control, run_vanilla_parity
from patched_airflow.testing.image import check_image
from patched_airflow.testing.lint import lint_series
from patched_airflow.testing.prcheck import check_upstream_pr
from patched_airflow.testing.summary import Result, run_pytest
from patched_airflow.testing.supervisor_schema import check_supervisor_schema
from patched_airflow.testing.typecheck import typecheck_series


@dataclass
class Suite:
    name: str
    kind: str  # "unit" or "e2e"
    rootdir: str  # relative to the test tree, or "repo:" + a path in this repository
    paths: list[str] = field(default_factory=list)  # empty for the upstream suites: the line names them
    python: str = "venv"  # "venv": the patched Airflow; "tools": the build tool's environment
    uses_database: bool = True  # False: the same on every backend, so run with sqlite only
    every_line: bool = True  # False: about this repository, not a line: run with the default line only
    # Which files of the line's assembled tree it reads, so a tree without some upstream files
    # (build/stamp.py's read_missing) skips it: "" none, "all" (upstream-pr: it also lays out a
    # pristine tree afresh, so it needs the files now), "py" its Python files, "src" the
    # Python files under */src/, "paths" its upstream test paths.
    reads_tree: str = ""
    # The services it needs beside the metadata database (backends.SERVICES), checked before it runs.
    services: tuple[str, ...] = ()

    def needs(self, backend: str) -> tuple[str, ...]:
        """The services it needs on ``backend``: PostgreSQL's server if it uses the database there."""
        return (("postgres",) if backend == "postgres" and self.uses_database else ()) + self.services


def files_read(suite: Suite, line: Line, missing: list[str]) -> list[str]:
    """The files of ``missing`` (upstream files the built tree lacks) that ``suite`` would read."""
    if suite.reads_tree == "paths":
        # A path may be a pytest node id (``module.py::Class::test``): it reads the module.
        roots = [
            f"{suite.rootdir}/{path.split('::')[0]}"
            for path in line.tests.get(suite.name, UpstreamTests(suite.paths)).paths
        ]
        return [
            p for p in missing if any(p == root or p.startswith(root.rstrip("/") + "/") for root in roots)
        ]
    reads = {
        "": lambda path: False,
        "all": lambda path: True,
        "py": lambda path: path.endswith(".py"),
        "src": lambda path: path.endswith(".py") and "/src/" in path,
    }[suite.reads_tree]
    return [p for p in missing if reads(p)]


SUITES = [
    Suite("tool", "unit", "repo:.", ["tests/tool"], python="tools", uses_database=False, every_line=False),
    # The quick start in a fresh clone of the committed state, with no upstream files and no GitHub.
    Suite(
        "fresh-clone",
        "unit",
        "repo:.",
        ["tests/fresh_clone"],
        python="tools",
        uses_database=False,
        every_line=False,
    ),
    Suite("lint", "unit", "repo:.", python="tools", uses_database=False, reads_tree="py"),
    Suite("upstream-pr", "unit", "repo:.", python="tools", uses_database=False, reads_tree="all"),
    Suite("image", "unit", "repo:.", python="tools", uses_database=False, every_line=False),
    Suite("mypy", "unit", "repo:.", python="tools", uses_database=False, reads_tree="src"),
    # The upstream test modules the series touches: the line's upstream.toml [tests.sdk] / [tests.core].
    # Task SDK tests must not use the database (task-sdk/tests/conftest.py).
    Suite("sdk", "unit", "task-sdk", uses_database=False, reads_tree="paths"),
    Suite("core", "unit", "airflow-core", reads_tree="paths"),
    Suite("e2e", "e2e", "repo:.", ["tests/e2e"]),
    Suite("contract", "e2e", "repo:.", ["tests/stack/contract"]),
    Suite("faults", "e2e", "repo:.", ["tests/stack/faults"]),
    Suite("celery", "e2e", "repo:.", ["tests/stack/celery"], services=("redis",)),
    Suite("xcom-backends", "e2e", "repo:.", ["tests/stack/xcom_backends"]),
    Suite("rollout", "e2e", "repo:.", ["tests/stack/rollout"]),
    # Lines with an [upgrade] from_line only: a deployment moved from that line's build to this one's.
    Suite("upgrade", "e2e", "repo:.", ["tests/stack/upgrade"]),
    # The tests of each contract row against the series through its argument patch, and vanilla
    # (testing/control.py, lines/<line>/control.toml): the kept rows' fail, the others' pass.
    Suite("control", "e2e", "repo:."),
    # Tests of what an unflagged task costs, which pass on vanilla too ([same_as_vanilla] of control.toml).
    Suite("vanilla-parity", "unit", "repo:."),
]
SUITE = {suite.name: suite for suite in SUITES}


# Suites that are checks of the tool's own, not pytest runs: (title, check(repo, line, uv) -> exit code).
CHECKS: dict[str, tuple[str, Callable[[Path, Line, str], int]]] = {
    "lint": (
        "the series under upstream's ruff settings, and this repository; generated files up to date",
        lambda repo, line, uv: (
            lint_series(line.tree, repo, str(Path(sys.executable).parent / "ruff"))
            | check_supervisor_schema(line.tree, line.venv, line.vanilla_venv)
        ),
    ),
    "upstream-pr": (
        "the line's upstream PR export applies with git am to a fresh pristine tree and builds the same wheels",
        lambda repo, line, uv: check_upstream_pr(repo, line, uv),
    ),
    "mypy": (
        "the modules the series touches: no mypy error the vanilla release does not have",
        lambda repo, line, uv: typecheck_series(line.tree, line.venv, line.vanilla_venv, line.build),
    ),
    "image": (
        "the Dockerfile: hadolint, and its install step in a clean virtualenv (no Docker engine here)",
        lambda repo, line, uv: check_image(repo, line, uv),
    ),
}


# Suites that run tests named in the line's control.toml against other builds (testing/control.py):
# (title, compare(repo, uv, line, venv, run_tests) -> Result).
COMPARISONS: dict[str, tuple[str, Callable[[Path, str, Line, Path, RunTests], Result]]] = {
    "control": (
        "the contract's tests against builds without the behaviour (the argument only, and vanilla)",
        lambda repo, uv, line, venv, run_tests: run_control(repo, uv, line, run_tests),
    ),
    "vanilla-parity": (
        "tests that pass on vanilla as on the patched build (an unflagged task's cost)",
        lambda repo, uv, line, venv, run_tests: run_vanilla_parity(repo, line, venv, run_tests),
    ),
}


def line_versions(line: Line) -> dict[str, str]:
    """The versions the tests check installed distributions against, patched and vanilla."""
    versions = {}
    for sdist in line.pins.sdists:
        name = "AIRFLOW" if sdist.directory == "airflow-core" else "TASK_SDK"
        versions[f"PATCHED_{name}_VERSION"] = f"{sdist.version}+{line.pins.local_label}"
        versions[f"VANILLA_{name}_VERSION"] = sdist.version
    return versions


def compat_harness(repo: Path, line: Line) -> Path:
    """
    The compatible harness for the line's upstream tests, in ``build/<line>/upstream_compat``.

    ``tests/upstream_compat`` (a small ``tests_common`` and the conftest overlay), with the files of the
    line's own ``lines/<line>/upstream_compat/`` laid over it where the line's upstream differs.
    """
    harness = line.build / "upstream_compat"
    if harness.exists():
        shutil.rmtree(harness)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(repo / "tests" / "upstream_compat", harness, ignore=ignore)
    if (own := line.folder / "upstream_compat").is_dir():
        shutil.copytree(own, harness, dirs_exist_ok=True, ignore=ignore)
    return harness


def select_suites(
    backend: str, test_type: str, only: list[str] | None, wheels: str, default_line: bool
) -> list[Suite]:
    """The suites a line's run takes, before its build: of the test type, named, for the backend."""
    chosen = []
    for suite in SUITES:
        if test_type != "all" and suite.kind != test_type:
            continue
        if only and suite.name not in only:
            continue
        if wheels == "vanilla" and (suite.python == "tools" or suite.name in COMPARISONS):
            continue  # the checks of this repository, and the suites that compare builds themselves
        if not suite.every_line and not default_line:
            continue
        if backend != "sqlite" and not suite.uses_database:
            print(f"\n=== {suite.name}: does not use the metadata database; it runs with --backend sqlite")
            continue
        chosen.append(suite)
    return chosen


def run_suites(
    repo: Path,
    line: Line,
    venv: Path,
    backend: str,
    suites: list[Suite],
    pytest_args: list[str],
    uv: str = "uv",
    upgrade_from: Path | None = None,
) -> list[Result]:
    """Run ``suites`` for one line against ``venv`` (its patched, or its vanilla, virtualenv)."""
    harness = compat_harness(repo, line)
    test_tree = line.build / "testtree"
    if test_tree.exists():
        shutil.rmtree(test_tree)
    shutil.copytree(line.tree, test_tree, ignore=shutil.ignore_patterns(".git"))
    shutil.copytree(harness / "overlay", test_tree, dirs_exist_ok=True)

    results: list[Result] = []
    missing = read_missing(line)
    with tempfile.TemporaryDirectory(prefix="airflow-tests-") as home:
        if backend == "sqlite":  # PostgreSQL's server was checked, and named, with the other services
            print("Backend sqlite: SQLite files in a throwaway AIRFLOW_HOME")
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "true",
            "PYTHONPATH": str(harness),
            "PATCHED_AIRFLOW_LINE": line.name,
            # The line's [release] facts, for the deployment suites (tests/stack/stack_config.py).
            **line.release.as_env(),
            "VANILLA_AIRFLOW_VENV": str(line.vanilla_venv),
            "VANILLA_PYTHON": str(line.vanilla_venv / "bin" / "python"),
            **line_versions(line),
            **({"UPGRADE_FROM_VENV": str(upgrade_from)} if upgrade_from else {}),
            "PATCHED_AIRFLOW_REPO": str(repo),
            "PATCHED_AIRFLOW_BACKEND": backend,
        }
        for suite in suites:
            if suite.name == "upgrade" and upgrade_from is None:
                print(
                    f"\n=== upgrade: no earlier line to upgrade the {line.name} line from (none named, or vanilla)"
                )
                continue
            lacks = missing
            if suite.reads_tree == "all":  # it assembles a pristine tree afresh: it needs the files now
                _, now = obtain_upstream_files(line.pins.upstream_files, repo, line.sdist_cache)
                lacks = {**missing, **{m.file.path: m.file.url for m in now}}
            if lacking := files_read(suite, line, sorted(lacks)):
                reason = (
                    f"the tree lacks {', '.join(lacking)}; get {' and '.join(lacks[p] for p in lacking)}, "
                    "or set AIRFLOW_UPSTREAM_BASE, and build again"
                )
                print(f"\n=== {suite.name}: SKIPPED: {reason}")
                results.append(Result(suite.name, None, reason=reason))
                continue
            if suite.name in CHECKS:
                title, check = CHECKS[suite.name]
                print(f"\n=== {suite.name}: {title}", flush=True)
                started = time.monotonic()
                code = check(repo, line, uv)
                results.append(Result(suite.name, code, time.monotonic() - started))
                continue

            def run_tests(name: str, paths: list[str], venv: Path, database: str) -> Result:
                return run_suite_tests(
                    repo, line, SUITE[name], venv, backend, home, database, env, paths, pytest_args
                )

            if suite.name in COMPARISONS:
                title, compare = COMPARISONS[suite.name]
                print(f"\n=== {suite.name} ({line.name}, {backend}): {title}", flush=True)
                started = time.monotonic()
                result = compare(repo, uv, line, venv, run_tests)
                results.append(dataclasses.replace(result, seconds=time.monotonic() - started))
                continue
            upstream = line.tests.get(suite.name, UpstreamTests(suite.paths))
            results.append(run_tests(suite.name, upstream.paths, venv, suite.name))
    return results


def run_suite_tests(
    repo: Path,
    line: Line,
    suite: Suite,
    venv: Path,
    backend: str,
    home: str,
    database: str,
    env: dict[str, str],
    paths: list[str],
    pytest_args: list[str],
) -> Result:
    """Run ``paths`` (test modules or node ids) of ``suite`` with pytest against ``venv``, on a fresh database."""
    test_tree = line.build / "testtree"
    cwd = repo / suite.rootdir[5:] if suite.rootdir.startswith("repo:") else test_tree / suite.rootdir
    python = sys.executable if suite.python == "tools" else str(venv / "bin" / "python")
    # This repository's own suites say why each skipped test was skipped.
    args = ["-p", "no:cacheprovider", *(["-rs"] if suite.rootdir.startswith("repo:") else [])]
    args += ["--rootdir", str(cwd), *paths]
    print(f"\n=== {suite.name} ({line.name}, {backend}): {' '.join(paths)}", flush=True)
    env = {
        **env,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(
            backend, Path(home), f"{database}_{line.name.replace('.', '_')}"
        ),
        "PATCHED_AIRFLOW_VENV": str(venv),
        "PATCHED_PYTHON": str(venv / "bin" / "python"),
    }
    for test_id, reason in line.tests.get(suite.name, UpstreamTests(suite.paths)).deselect.items():
        print(f"    deselected upstream test {test_id}: {reason}")
        args += ["--deselect", test_id]
    return run_pytest(suite.name, python, [*args, *pytest_args], cwd, env)
