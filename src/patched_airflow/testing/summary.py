"""
Each suite's outcome in a test run, and the summary ``./test.sh`` ends with: per suite, passed or
not, and how many tests passed, failed, were skipped or deselected (``pytest_plugins/suite_counts.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_DIR = Path(__file__).parent / "pytest_plugins"
# The outcomes of tests, in the order the summary lists them; RAN: those of a test that ran.
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")
RAN = ("passed", "failed", "error", "xfailed", "xpassed")


def strict() -> bool:
    """Under ``CI=true`` nothing may be skipped: a suite that did not run, or ran no test, fails."""
    return os.environ.get("CI", "").lower() in ("true", "1")


@dataclass
class Result:
    suite: str
    code: int | None  # the exit code; None: it did not run
    seconds: float = 0.0
    reason: str = ""  # why it did not run
    counts: dict[str, int] | None = None  # a pytest suite's tests by outcome; None for the checks
    outcomes: dict[str, str] = field(default_factory=dict)  # each test's outcome, by pytest node id
    detail: str = ""  # what the summary says of a passed check, in place of its test counts

    def tally(self) -> str:
        counts = self.counts or {}
        return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)) or "no test collected"

    def status(self, ci: bool) -> tuple[str, bool]:
        """What the summary says of the suite, and whether that keeps the run green."""
        if self.code is None:
            return _not_run("", self.reason, ci)
        if self.counts is None:  # a check of the tool's own
            detail = f": {self.detail}" if self.detail else ""
            return (
                (f"passed{detail}", True) if self.code == 0 else (f"FAILED (exit {self.code}){detail}", False)
            )
        if self.code != 0:
            return f"FAILED (pytest exit {self.code}: {self.tally()})", False
        if not any(self.counts.get(outcome) for outcome in RAN):
            return _not_run("ran no test", self.tally(), ci)
        return f"passed: {self.tally()}", True


def _not_run(what: str, why: str, ci: bool) -> tuple[str, bool]:
    """A suite that did not run, or ran no test: not passed, and under ``CI=true`` failed."""
    if ci:
        return f"FAILED ({what + ': ' if what else ''}{why}; nothing may be skipped under CI=true)", False
    return f"{what or 'skipped'} ({why})", True


def run_pytest(suite: str, python: str, args: list[str], cwd: Path, env: dict[str, str]) -> Result:
    """``python -m pytest args`` in ``cwd`` with the counting plugin; its exit code and counts."""
    with tempfile.TemporaryDirectory(prefix="suite-counts-") as scratch:
        counts_file = Path(scratch) / "counts.json"
        pythonpath = os.pathsep.join(p for p in (str(PLUGIN_DIR), env.get("PYTHONPATH", "")) if p)
        started = time.monotonic()
        code = subprocess.run(
            [python, "-m", "pytest", "-p", "suite_counts", *args],
            cwd=cwd,
            env={**env, "PYTHONPATH": pythonpath, "PATCHED_AIRFLOW_COUNTS": str(counts_file)},
        ).returncode
        # No file: pytest stopped before the session ended (a usage error, an interrupt).
        written = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    return Result(
        suite,
        code,
        time.monotonic() - started,
        counts=written.get("counts", {}),
        outcomes=written.get("outcomes", {}),
    )


def summarize(title: str, results: list[Result]) -> int:
    """
    Print the summary; the exit status: 0 if every suite passed. A suite skipped, or that ran no
    test, is not passed; it does not fail the run either, except under ``CI=true``.
    """
    ci = strict()
    print(f"\n=== Summary: {title}")
    green = bool(results)
    totals: dict[str, int] = {}
    for result in results:
        status, ok = result.status(ci)
        green &= ok
        print(f"  {result.suite:<13} {status}  {result.seconds:.0f}s")
        for outcome, count in (result.counts or {}).items():
            totals[outcome] = totals.get(outcome, 0) + count
    if totals:
        print(f"  {'tests':<13} {Result('', 0, counts=totals).tally()}")
    if not results:
        print("  no suite was selected")
    return 0 if green else 1
