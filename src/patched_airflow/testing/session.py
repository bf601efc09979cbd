"""
``./test.sh``: for each line, the suites it takes and the services they need checked, then its
build and virtualenvs made ready (only if some suite is left to run), its suites run, the summary.
"""

from __future__ import annotations

from pathlib import Path

from patched_airflow.backends import SERVICES, BackendUnavailable, ensure_service
from patched_airflow.building.builder import ensure_built
from patched_airflow.lines import Line, Lines
from patched_airflow.testing.suites import SUITES, Suite, run_suites, select_suites
from patched_airflow.testing.summary import Result, strict, summarize
from patched_airflow.venvs import TEST_REQUIREMENTS, ensure_venv


def run_tests(
    repo: Path,
    uv: str,
    names: list[str] | None,
    backend: str,
    test_type: str,
    wheels: str,
    suites: list[str] | None,
    pytest_args: list[str],
) -> int:
    """Run the suites of every named line (every line by default) against its patched or vanilla build."""
    lines = Lines.load(repo)
    outcome = 0
    known: dict[str, str] = {}  # service -> why it is missing, "" if it is there: checked once a run
    for line in lines.select(names):
        print(f"\n##### Line {line.name}: apache-airflow=={line.airflow_version} + {line.pins.local_label}")
        chosen = select_suites(backend, test_type, suites, wheels, default_line=line.name == lines.default)
        results = lacking_services(chosen, backend, known)
        if runnable := [suite for suite in chosen if suite.name not in {r.suite for r in results}]:
            results += run_line(repo, uv, lines, line, wheels, backend, runnable, pytest_args)
        order = [suite.name for suite in SUITES]
        outcome |= summarize(
            f"line {line.name}, {backend}", sorted(results, key=lambda r: order.index(r.suite))
        )
    return outcome


def lacking_services(suites: list[Suite], backend: str, known: dict[str, str]) -> list[Result]:
    """
    A Result for each suite a service it needs is missing for (PostgreSQL's server, Redis), with one
    line naming the service: skipped, or failed under ``CI=true``. Starts a stopped local PostgreSQL.
    """
    results = []
    for suite in suites:
        for name in suite.needs(backend):
            if name not in known:
                try:
                    print(f"{SERVICES[name]}: {ensure_service(name)}", flush=True)
                    known[name] = ""
                except BackendUnavailable as e:
                    known[name] = f"{SERVICES[name]} is missing: {e}"
            if known[name]:
                print(f"\n=== {suite.name}: {'FAILED' if strict() else 'SKIPPED'}: {known[name]}", flush=True)
                results.append(Result(suite.name, None, reason=known[name]))
                break
    return results


def run_line(
    repo: Path,
    uv: str,
    lines: Lines,
    line: Line,
    wheels: str,
    backend: str,
    suites: list[Suite],
    pytest_args: list[str],
) -> list[Result]:
    """The line's build and virtualenvs made ready, then ``suites`` run against them."""
    built = ensure_built(repo, uv, line)
    venv = ensure_venv(uv, line, built, TEST_REQUIREMENTS, line.venv)
    # The vanilla release beside it, for the comparisons (serialization bytes, mixed versions).
    vanilla = ensure_venv(uv, line, [], TEST_REQUIREMENTS, line.vanilla_venv)
    if wheels == "vanilla":
        print(
            f"Running the suites against VANILLA apache-airflow {line.airflow_version}: "
            "the contract tests are expected to fail."
        )
        venv = vanilla
    wants_upgrade = wheels != "vanilla" and any(suite.name == "upgrade" for suite in suites)
    return run_suites(
        repo,
        line,
        venv,
        backend,
        suites,
        pytest_args,
        uv=uv,
        upgrade_from=upgrade_venv(repo, uv, lines, line) if wants_upgrade else None,
    )


def upgrade_venv(repo: Path, uv: str, lines: Lines, line: Line) -> Path | None:
    """The patched virtualenv of the line ``line`` upgrades from (its ``[upgrade] from_line``), if any."""
    if line.upgrade_from is None:
        return None
    earlier = lines.one(line.upgrade_from)
    return ensure_venv(uv, earlier, ensure_built(repo, uv, earlier), TEST_REQUIREMENTS, earlier.venv)
