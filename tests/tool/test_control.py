"""
The control builds' expectations: each line's ``control.toml`` against the contract's table, and the
comparison of a run's outcomes with them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patched_airflow.lines import Lines
from patched_airflow.pins import UpstreamError
from patched_airflow.testing.control import check_control, contract_rows, load_control, run_vanilla_parity
from patched_airflow.testing.summary import Result

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "docs" / "contract.md"


def test_the_contract_table_and_which_rows_the_flag_changes():
    rows = contract_rows(CONTRACT)
    assert len(rows) == 9
    assert [row.what.split(" (")[0] for row in rows if row.flag_changes_it] == [
        "an automatic retry after the task raised",
        "an automatic retry after the worker process died, a heartbeat timeout, or a failure the executor reported",
        "a reschedule",
        "an automatic retry of a task that starts from a trigger",
        "a person's clear that asks to keep the task's state, on a line whose clear offers it",
    ]


@pytest.mark.parametrize("name", sorted(Lines.load(REPO).lines))
def test_each_line_expects_exactly_the_kept_rows_to_fail(name: str):
    """The tests expected to fail on the control build are those of the contract's kept rows."""
    rows = contract_rows(CONTRACT)
    control = load_control(Lines.load(REPO).one(name), rows)
    expected_to_fail = {row for row, suites in control.tests.items() if row.flag_changes_it and suites}
    kept = {row for row in rows if row.flag_changes_it}
    assert expected_to_fail == kept - set(control.untested)
    assert all(reason.strip() for reason in control.untested.values())
    # Every row the flag changes has a test on every line but where the line says why not.
    assert all(any(control.tests.get(row, {}).values()) or row in control.untested for row in rows)


@pytest.fixture
def line(tmp_path: Path):
    """A copy of the 3.4 line's folder, whose control.toml a test rewrites."""
    shutil.copytree(REPO / "lines", tmp_path / "lines")
    return Lines.load(tmp_path).one("3.4")


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        pytest.param(('row = "a reschedule"', 'row = "a nap"'), "'a nap' starts 0 rows", id="unknown-row"),
        pytest.param(('row = "a reschedule"', 'row = "a"'), "'a' starts 7 rows", id="ambiguous-row"),
        pytest.param(("through = ", "through = 'x' #"), "through = 'x' is not a patch", id="unknown-patch"),
        pytest.param(
            ("[untested]\n", "[untested]\n'a reschedule' = 'no'\n"), "both tested and untested", id="both"
        ),
        pytest.param(
            ("[untested]\n", "[ignored]\n"), "no test and no reason in [untested]", id="row-left-out"
        ),
        pytest.param(("core = [", "cores = ["), "unknown keys cores", id="unknown-suite"),
    ],
)
def test_a_wrong_control_file_is_an_error_naming_what_is_wrong(line, edit: tuple[str, str], error: str):
    path = line.folder / "control.toml"
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(UpstreamError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load_control(line, contract_rows(CONTRACT))


def test_the_check_fails_a_kept_row_test_that_passes_without_the_behaviour(line, capsys):
    control = load_control(line, contract_rows(CONTRACT))
    expected = control.expected()

    def run(outcome_of):
        def run_tests(suite: str, ids: list[str], venv: Path, database: str) -> Result:
            outcomes = {test_id: outcome_of(venv, expected[suite][test_id][1]) for test_id in ids}
            return Result(suite, 0, outcomes=outcomes)

        return check_control(control, Path("control"), Path("vanilla"), run_tests)

    as_contract = run(lambda venv, fails: "failed" if fails or venv.name == "vanilla" else "passed")
    assert as_contract.code == 0, capsys.readouterr().out
    assert f"vanilla: all {sum(map(len, expected.values()))} fail" in as_contract.detail

    # A kept row's test that passes on the control build could not notice the behaviour missing.
    kept_passes = run(lambda venv, fails: "failed" if venv.name == "vanilla" else "passed")
    assert kept_passes.code == 1
    assert "control: core:" in capsys.readouterr().out
    # A test that vanilla passes does not need the argument, so it proves nothing about the flag.
    vanilla_passes = run(lambda venv, fails: "failed" if fails and venv.name == "control" else "passed")
    assert vanilla_passes.code == 1
    assert "vanilla: contract:" in capsys.readouterr().out


@pytest.mark.parametrize(("vanilla", "code"), [("passed", 0), ("failed", 1), ("not run", 1)])
def test_vanilla_parity_needs_the_tests_to_pass_on_both_builds(line, vanilla: str, code: int):
    def run_tests(suite: str, ids: list[str], venv: Path, database: str) -> Result:
        got = "passed" if venv != line.vanilla_venv else vanilla
        return Result(suite, 0, outcomes={} if got == "not run" else {f"{i}[head]": got for i in ids})

    assert run_vanilla_parity(REPO, line, Path("patched"), run_tests).code == code
