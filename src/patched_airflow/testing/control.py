"""
The control builds: what shows that the contract's tests can fail.

A test that passes on the patched build shows the behaviour is there; only a build without the
behaviour shows the test would notice it missing. ``lines/<line>/control.toml`` names the patch of
the line's series that adds the argument (``through``: the flag accepted and serialized, nothing
done with it) and, for each row of the contract's table (``docs/contract.md``, "What it changes"),
the tests that prove it. The ``control`` suite builds the series up to that patch, runs those tests
against it and checks each against its row: the tests of a row the flag changes (vanilla "cleared",
flagged "kept") must fail, every other row's must pass. Then it runs them against the vanilla
release, which rejects the argument, where every one must fail. A row with no test says why.

The same file names the tests that must pass on the vanilla release as on the patched build
(``[same_as_vanilla]``): what they assert of an unflagged task, such as the statements its start
sends, is then what vanilla does, measured in the same run. The ``vanilla-parity`` suite runs them.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from patched_airflow import git
from patched_airflow.building.series import read_series
from patched_airflow.building.stamp import inputs_digest
from patched_airflow.building.wheels import build_wheels
from patched_airflow.lines import Line
from patched_airflow.pins import UpstreamError
from patched_airflow.testing.summary import Result
from patched_airflow.venvs import TEST_REQUIREMENTS, ensure_venv

# The contract's table of what starts a task instance again, by its header's first cell.
TABLE_HEADER = "what starts the task instance again"
# The suites whose tests a row may name: the upstream tests of the series, and the deployments.
ROW_SUITES = ("core", "sdk", "contract", "faults", "xcom-backends")
# The control build's wheels carry the line's label with this appended, so they are never taken for it.
LABEL_SUFFIX = "control"
# Runs one suite's tests (pytest node ids) against a virtualenv: (suite, ids, venv, database) -> Result.
RunTests = Callable[[str, list[str], Path, str], Result]


@dataclass(frozen=True)
class ContractRow:
    """A row of the contract's table: what starts the task instance again, and the outcome without and with the flag."""

    what: str
    vanilla: str
    flagged: str

    @property
    def flag_changes_it(self) -> bool:
        """Whether the flag changes the outcome ("cleared" without it, "kept" with it)."""
        return self.vanilla.split(":")[0].strip() != self.flagged.split(":")[0].strip()


def contract_rows(contract: Path) -> list[ContractRow]:
    """The rows of the table in ``contract`` whose header starts with ``TABLE_HEADER``."""
    rows: list[ContractRow] = []
    in_table = False
    for line in contract.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            if in_table:
                break
            continue
        if cells[0] == TABLE_HEADER:
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            if len(cells) != 3:
                raise UpstreamError(f"{contract}: the row {line!r} has {len(cells)} cells, not 3")
            rows.append(ContractRow(*cells))
    if not rows:
        raise UpstreamError(f"{contract}: no table whose header starts with {TABLE_HEADER!r}")
    return rows


@dataclass(frozen=True)
class Control:
    """A line's ``control.toml``: the argument's patch, each row's tests by suite, the rows without a test."""

    through: str
    tests: dict[ContractRow, dict[str, list[str]]]
    untested: dict[ContractRow, str]
    # Suite -> tests that pass on the vanilla release as on the patched build.
    same_as_vanilla: dict[str, list[str]]

    def expected(self) -> dict[str, dict[str, tuple[ContractRow, bool]]]:
        """Suite -> test id -> (its row, whether it must fail on the control build)."""
        by_suite: dict[str, dict[str, tuple[ContractRow, bool]]] = {}
        for row, suites in self.tests.items():
            for suite, ids in suites.items():
                for test_id in ids:
                    by_suite.setdefault(suite, {})[test_id] = (row, row.flag_changes_it)
        return by_suite


def load_control(line: Line, rows: list[ContractRow]) -> Control:
    """
    ``lines/<line>/control.toml``, checked against the contract's rows: each names one row by the start
    of its first cell, and every row has tests or a reason in ``[untested]``; an error names what is wrong.
    """
    path = line.folder / "control.toml"
    if not path.is_file():
        raise UpstreamError(f"{path} is missing: every line names the tests of each contract row there")
    config = tomllib.loads(path.read_text())
    patches = [entry.patch for entry in read_series(line.patches)]
    if config.get("through") not in patches:
        raise UpstreamError(f"{path}: through = {config.get('through')!r} is not a patch of the series")

    def row(prefix: str) -> ContractRow:
        found = [r for r in rows if r.what.startswith(prefix)]
        if len(found) != 1:
            raise UpstreamError(
                f"{path}: {prefix!r} starts {len(found)} rows of the contract's table, not one"
            )
        return found[0]

    tests: dict[ContractRow, dict[str, list[str]]] = {}
    for number, entry in enumerate(config.get("row", []), start=1):
        if unknown := sorted(set(entry) - {"row", *ROW_SUITES}):
            raise UpstreamError(f"{path}: [[row]] #{number} has unknown keys {', '.join(unknown)}")
        suites = {suite: list(entry[suite]) for suite in ROW_SUITES if entry.get(suite)}
        if not suites:
            raise UpstreamError(f"{path}: [[row]] #{number} names no test")
        tests.setdefault(row(entry.get("row", "")), {}).update(suites)
    untested = {row(prefix): reason for prefix, reason in config.get("untested", {}).items()}
    if both := [r.what for r in tests if r in untested]:
        raise UpstreamError(f"{path}: rows both tested and untested: {both}")
    if lacking := [r.what for r in rows if r not in tests and r not in untested]:
        raise UpstreamError(f"{path}: no test and no reason in [untested] for the rows {lacking}")
    same_as_vanilla = config.get("same_as_vanilla", {})
    if unknown := sorted(set(same_as_vanilla) - set(ROW_SUITES)):
        raise UpstreamError(f"{path}: [same_as_vanilla] has unknown suites {', '.join(unknown)}")
    return Control(config["through"], tests, untested, {k: list(v) for k, v in same_as_vanilla.items()})


def run_control(repo: Path, uv: str, line: Line, run_tests: RunTests) -> Result:
    """The ``control`` suite of ``line``: its control build made ready, then each row's tests checked."""
    control = load_control(line, contract_rows(repo / "docs" / "contract.md"))
    venv = ensure_control_venv(repo, uv, line, control)
    return check_control(control, venv, line.vanilla_venv, run_tests)


def ensure_control_venv(repo: Path, uv: str, line: Line, control: Control) -> Path:
    """
    The control build's virtualenv (``build/<line>/control/venv``): the line's tree up to the commit of
    ``control.through``, built with the label ``<label>.control``. Rebuilt when the line's inputs change.
    """
    folder = line.build / "control"
    stamp = folder / "inputs.sha256"
    digest = inputs_digest(repo, line) + control.through
    wheels = sorted((folder / "dist").glob("*.whl"))
    if len(wheels) != 2 or not stamp.exists() or stamp.read_text() != digest:
        print(f"{line.name}: building the control build (the series through {control.through})", flush=True)
        if folder.exists():
            shutil.rmtree(folder)
        tree = folder / "tree"
        git.run(line.build, "clone", "-q", str(line.tree), str(tree))
        commits = git.run(tree, "rev-list", "--reverse", "pristine..HEAD").split()
        position = [entry.patch for entry in read_series(line.patches)].index(control.through)
        git.run(tree, "checkout", "-q", commits[position])
        pins = dataclasses.replace(line.pins, local_label=f"{line.pins.local_label}.{LABEL_SUFFIX}")
        wheels = build_wheels(pins, tree, folder / "wheel-src", folder / "dist", uv)
        stamp.write_text(digest)
    return ensure_venv(uv, line, wheels, TEST_REQUIREMENTS, folder / "venv")


def check_control(control: Control, venv: Path, vanilla: Path, run_tests: RunTests) -> Result:
    """Run each row's tests against the control build, then against vanilla; print each row's verdict."""
    expected = control.expected()
    wrong: list[str] = []
    for build, path in (("control", venv), ("vanilla", vanilla)):
        print(f"\n--- control: the contract's tests against the {build} build ({path})", flush=True)
        got: dict[tuple[str, str], str] = {}
        for suite, ids in expected.items():
            result = run_tests(suite, list(ids), path, f"control_{build}_{suite}".replace("-", "_"))
            got.update({(suite, test_id): outcome(result, test_id) for test_id in ids})
        for row, suites in control.tests.items():
            # Vanilla rejects the argument: a test of a flagged task fails there whatever its row.
            must = "failed" if build == "vanilla" or row.flag_changes_it else "passed"
            bad = [f"{s}:{t} {got[s, t]}" for s, ids in suites.items() for t in ids if got[s, t] != must]
            wrong += [f"{build}: {b}, expected {must}" for b in bad]
            count = sum(map(len, suites.values()))
            print(f"  {'BAD' if bad else 'ok '} {count} must have {must}: {_short(row.what)}")
    for row, reason in control.untested.items():
        print(f"  no test: {_short(row.what)}: {reason}")
    for line in wrong:
        print(f"  not as the contract says: {line}")
    total = sum(len(ids) for ids in expected.values())
    kept = sum(fails for ids in expected.values() for _, fails in ids.values())
    detail = (
        f"{total} tests of {len(control.tests)} rows; control build: the {kept} of the kept rows fail, "
        f"the other {total - kept} pass; vanilla: all {total} fail"
    )
    return Result("control", 1 if wrong else 0, detail=f"{len(wrong)} not as expected" if wrong else detail)


def run_vanilla_parity(repo: Path, line: Line, venv: Path, run_tests: RunTests) -> Result:
    """The ``vanilla-parity`` suite: the ``[same_as_vanilla]`` tests pass on the patched build and on vanilla."""
    control = load_control(line, contract_rows(repo / "docs" / "contract.md"))
    if not control.same_as_vanilla:
        return Result(
            "vanilla-parity", None, reason=f"{line.folder / 'control.toml'} has no [same_as_vanilla]"
        )
    wrong, ran = [], 0
    for build, path in (("patched", venv), ("vanilla", line.vanilla_venv)):
        print(f"\n--- vanilla-parity: against the {build} build ({path})", flush=True)
        for suite, ids in control.same_as_vanilla.items():
            result = run_tests(suite, ids, path, f"parity_{build}_{suite}".replace("-", "_"))
            ran += len(ids)
            wrong += [
                f"{build}: {suite}:{i} {outcome(result, i)}" for i in ids if outcome(result, i) != "passed"
            ]
    for entry in wrong:
        print(f"  not as on vanilla: {entry}")
    detail = (
        f"{ran // 2} test(s) pass on the patched build and on vanilla"
        if not wrong
        else f"{len(wrong)} did not pass"
    )
    return Result("vanilla-parity", 1 if wrong else 0, detail=detail)


def outcome(result: Result, test_id: str) -> str:
    """The outcome of ``test_id`` in ``result``, over all its parameters if it names none: the worst of them."""
    found = {o for node, o in result.outcomes.items() if node == test_id or node.startswith(f"{test_id}[")}
    return next((o for o in ("failed", "skipped", "passed") if o in found), "not run")


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 90 else text[:87] + "..."
