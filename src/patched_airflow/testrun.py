"""
The test suite behind ``./test.sh``, run against the built wheels (in the spirit of breeze).

Suites:

* ``tool``: this repository's tests of the build tool.
* ``sdk`` and ``core``: the tests the series adds or changes upstream, run from the assembled tree
  (pristine upstream + series) with the compatible ``tests_common`` harness in
  ``tests/upstream_compat`` and its conftest overlay.
* ``e2e``: real Airflow processes and commands through the installed wheels (``tests/integration``).
* ``stack``: a whole deployment of real processes (api-server, scheduler with the LocalExecutor,
  dag-processor, triggerer) on the suite's database, driven through the REST API and the CLI
  (``tests/stack/contract``, harness in ``tests/stack/stack.py``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from patched_airflow.backends import BackendUnavailable, database_url, ensure_available
from patched_airflow.image import check_image
from patched_airflow.lint import lint_series
from patched_airflow.prcheck import check_upstream_pr
from patched_airflow.series import read_series
from patched_airflow.supervisor_schema import check_supervisor_schema
from patched_airflow.typecheck import typecheck_series

TEST_REQUIREMENTS = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "pytest-timeout>=2",
    "time-machine>=2.13",
    "kgb>=7",
    "pandas",
    "pyarrow",
    "psycopg2-binary",
    "asyncpg",
    # The celery suite's CeleryExecutor deployment (Redis broker). 3.26.0 is the latest release and has
    # the Airflow 3.3 code paths (BaseExecutor.run_workload); common-io comes with apache-airflow.
    "apache-airflow-providers-celery==3.26.0",
]


@dataclass
class Suite:
    name: str
    kind: str  # "unit" or "e2e"
    rootdir: str  # relative to the test tree, or "repo:" + a path in this repository
    paths: list[str]
    python: str = "venv"  # "venv": the patched Airflow; "tools": the build tool's environment
    uses_database: bool = True  # False: the same on every backend, so run with sqlite only
    # Pre-existing upstream tests in the modules the series touches that need what this harness
    # does not provide; each is named with the reason, and printed when the suite runs.
    deselect: dict[str, str] = field(default_factory=dict)


SUITES = [
    Suite("tool", "unit", "repo:.", ["tests/tool"], python="tools", uses_database=False),
    Suite("lint", "unit", "repo:.", [], python="tools", uses_database=False),
    Suite("upstream-pr", "unit", "repo:.", [], python="tools", uses_database=False),
    Suite("image", "unit", "repo:.", [], python="tools", uses_database=False),
    Suite("mypy", "unit", "repo:.", [], python="tools", uses_database=False),
    Suite(
        "sdk",
        "unit",
        "task-sdk",
        [
            "tests/task_sdk/bases/test_operator.py",
            "tests/task_sdk/bases/test_decorator.py",
            "tests/task_sdk/definitions/test_mappedoperator.py",
            "tests/task_sdk/execution_time/test_task_runner.py",
            "tests/task_sdk/execution_time/schema",
            "tests/task_sdk/execution_time/test_supervisor_schemas_name_type_sync.py",
        ],
        deselect={
            "tests/task_sdk/bases/test_operator.py::TestExecutorSafeguard::test_decorated_operators": (
                "needs upstream's structlog-aware caplog fixture"
            ),
            "tests/task_sdk/bases/test_operator.py::TestExecutorSafeguard::test_python_op": (
                "needs upstream's structlog-aware caplog fixture"
            ),
            "tests/task_sdk/bases/test_decorator.py::TestBaseDecorator::"
            "test_get_python_source_strips_decorator_and_comment": "needs the cncf.kubernetes provider",
            "tests/task_sdk/execution_time/test_task_runner.py::TestRuntimeTaskInstance::"
            "test_rendered_templates_masks_secrets_in_complex_objects": "needs the kubernetes client",
        },
        uses_database=False,  # Task SDK tests must not use the database (task-sdk/tests/conftest.py)
    ),
    Suite("core", "unit", "airflow-core", ["tests/unit"]),
    Suite("e2e", "e2e", "repo:.", ["tests/integration"]),
    Suite("stack", "e2e", "repo:.", ["tests/stack/contract"]),
    Suite("faults", "e2e", "repo:.", ["tests/stack/faults"]),
    Suite("celery", "e2e", "repo:.", ["tests/stack/celery"]),
    Suite("xcom-backends", "e2e", "repo:.", ["tests/stack/xcom_backends"]),
    Suite("rollout", "e2e", "repo:.", ["tests/stack/rollout"]),
]


# Suites that are checks of the tool's own, not pytest runs: (title, check(repo, tree, uv) -> exit code).
CHECKS = {
    "lint": (
        "the series under upstream's ruff settings, and this repository; generated files up to date",
        lambda repo, tree, uv: (
            lint_series(tree, repo, str(Path(sys.executable).parent / "ruff"))
            | check_supervisor_schema(tree, repo / "build" / "venv")
        ),
    ),
    "upstream-pr": (
        "dist/upstream-pr applies with git am to a fresh pristine tree and builds the same wheels",
        lambda repo, tree, uv: check_upstream_pr(repo, repo / "build", repo / "dist", uv),
    ),
    "mypy": (
        "the modules the series touches: no mypy error vanilla 3.3.2 does not have",
        lambda repo, tree, uv: typecheck_series(
            tree, repo / "build" / "venv", repo / "build" / "venv-vanilla", repo / "build"
        ),
    ),
    "image": (
        "the Dockerfile: hadolint, and its install step in a clean virtualenv (no Docker engine here)",
        lambda repo, tree, uv: check_image(repo, repo / "build", repo / "dist", uv),
    ),
}


def inputs_digest(repo: Path) -> str:
    """A digest of everything the build reads from this repository."""
    digest = hashlib.sha256()
    files = [repo / "upstream.toml", repo / "patches" / "series"]
    files += sorted((repo / "patches").glob("*.patch"))
    files += [repo / path for entry in read_series(repo / "patches") for path in entry.added_files]
    files += sorted((repo / "src" / "patched_airflow").glob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def run_suites(
    repo: Path,
    venv: Path,
    vanilla: Path,
    tree: Path,
    backend: str,
    test_type: str,
    pytest_args: list[str],
    wheels: str = "patched",
    uv: str = "uv",
    only: list[str] | None = None,
) -> int:
    overlay = repo / "tests" / "upstream_compat" / "overlay"
    test_tree = repo / "build" / "testtree"
    if test_tree.exists():
        shutil.rmtree(test_tree)
    shutil.copytree(tree, test_tree, ignore=shutil.ignore_patterns(".git"))
    shutil.copytree(overlay, test_tree, dirs_exist_ok=True)

    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="airflow-tests-") as home:
        try:
            print(f"Backend {backend}: {ensure_available(backend)}")
        except BackendUnavailable as e:
            print(f"SKIPPED: the {backend} backend is not available: {e}")
            return 0
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "true",
            "PYTHONPATH": str(repo / "tests" / "upstream_compat"),
            "PATCHED_AIRFLOW_VENV": str(venv),
            "VANILLA_AIRFLOW_VENV": str(vanilla),
            "PATCHED_PYTHON": str(venv / "bin" / "python"),
            "VANILLA_PYTHON": str(vanilla / "bin" / "python"),
            "PATCHED_AIRFLOW_REPO": str(repo),
            "PATCHED_AIRFLOW_BACKEND": backend,
        }
        for suite in SUITES:
            if test_type != "all" and suite.kind != test_type:
                continue
            if only and suite.name not in only:
                continue
            if wheels == "vanilla" and suite.python == "tools":
                continue
            if backend != "sqlite" and not suite.uses_database:
                print(
                    f"\n=== {suite.name}: does not use the metadata database; it runs with --backend sqlite"
                )
                continue
            if suite.name in CHECKS:
                title, check = CHECKS[suite.name]
                print(f"\n=== {suite.name}: {title}", flush=True)
                started = time.monotonic()
                code = check(repo, tree, uv)
                results.append((suite.name, code, time.monotonic() - started))
                continue
            cwd = repo / suite.rootdir[5:] if suite.rootdir.startswith("repo:") else test_tree / suite.rootdir
            python = sys.executable if suite.python == "tools" else str(venv / "bin" / "python")
            command = [python, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(cwd), *suite.paths]
            print(f"\n=== {suite.name} ({backend}): {' '.join(suite.paths)}", flush=True)
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url(backend, Path(home), suite.name)
            for test_id, reason in suite.deselect.items():
                print(f"    deselected upstream test {test_id}: {reason}")
                command += ["--deselect", test_id]
            started = time.monotonic()
            code = subprocess.run([*command, *pytest_args], cwd=cwd, env=env).returncode
            results.append((suite.name, code, time.monotonic() - started))

    print("\n=== Summary")
    for name, code, seconds in results:
        print(f"  {name:<6} {'passed' if code == 0 else f'FAILED (pytest exit {code})'}  {seconds:.0f}s")
    return 0 if results and all(code == 0 for _, code, _ in results) else 1
