"""``./test.sh``: for each line, its build and virtualenvs made ready, then its suites run."""

from __future__ import annotations

from pathlib import Path

from patched_airflow.building.builder import ensure_built
from patched_airflow.lines import Line, Lines
from patched_airflow.testing.suites import run_suites
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
    for line in lines.select(names):
        built = ensure_built(repo, uv, line)
        print(f"\n##### Line {line.name}: apache-airflow=={line.airflow_version} + {line.pins.local_label}")
        venv = ensure_venv(uv, line, built, TEST_REQUIREMENTS, line.venv)
        # The vanilla release beside it, for the comparisons (serialization bytes, mixed versions).
        vanilla = ensure_venv(uv, line, [], TEST_REQUIREMENTS, line.vanilla_venv)
        if wheels == "vanilla":
            print(
                f"Running the suites against VANILLA apache-airflow {line.airflow_version}: "
                "the contract tests are expected to fail."
            )
            venv = vanilla
        wants_upgrade = suites is None and test_type != "unit" or bool(suites and "upgrade" in suites)
        outcome |= run_suites(
            repo,
            line,
            venv,
            backend,
            test_type,
            pytest_args,
            wheels=wheels,
            uv=uv,
            only=suites,
            default_line=line.name == lines.default,
            upgrade_from=upgrade_venv(repo, uv, lines, line)
            if wants_upgrade and wheels != "vanilla"
            else None,
        )
    return outcome


def upgrade_venv(repo: Path, uv: str, lines: Lines, line: Line) -> Path | None:
    """The patched virtualenv of the line ``line`` upgrades from (its ``[upgrade] from_line``), if any."""
    if line.upgrade_from is None:
        return None
    earlier = lines.one(line.upgrade_from)
    return ensure_venv(uv, earlier, ensure_built(repo, uv, earlier), TEST_REQUIREMENTS, earlier.venv)
