"""
A pytest plugin ``./test.sh`` loads into every pytest suite (``-p suite_counts``, this folder on
``PYTHONPATH``): at the end of the session it writes how many tests passed, failed, errored, were
skipped, xfailed, xpassed or deselected to the JSON file ``PATCHED_AIRFLOW_COUNTS`` names, which the
summary reads, with each test's outcome by node id (the control build compares them with the
contract's rows). It imports nothing of the build tool: it runs in the lines' virtualenvs too.
"""

from __future__ import annotations

import json
import os
from collections import Counter

COUNTS: Counter[str] = Counter()
# Each test that ran: "failed" if any of its phases failed, else "skipped" if it was skipped, else "passed".
OUTCOMES: dict[str, str] = {}


def pytest_deselected(items) -> None:
    COUNTS["deselected"] += len(items)


def pytest_collectreport(report) -> None:
    if report.failed:
        COUNTS["error"] += 1  # a module that does not import
    elif report.skipped:
        COUNTS["skipped"] += 1  # a module skipped as a whole (pytest.skip(allow_module_level=True))


def pytest_runtest_logreport(report) -> None:
    xfail = hasattr(report, "wasxfail")
    if OUTCOMES.get(report.nodeid) != "failed" and (report.when == "call" or not report.passed):
        OUTCOMES[report.nodeid] = report.outcome
    if report.when == "call":
        if xfail:
            COUNTS["xfailed" if report.skipped else "xpassed"] += 1
        else:
            COUNTS[report.outcome] += 1  # passed, failed, skipped
    elif report.failed:
        COUNTS["error"] += 1  # a fixture's setup or teardown failed
    elif report.skipped:
        COUNTS["xfailed" if xfail else "skipped"] += 1  # skipped before it ran (a mark, a fixture)


def pytest_sessionfinish(session, exitstatus) -> None:
    if hasattr(session.config, "workerinput") or not (path := os.environ.get("PATCHED_AIRFLOW_COUNTS")):
        return  # an xdist worker (its controller writes), or not run by ./test.sh
    with open(path, "w") as out:
        json.dump({"counts": dict(COUNTS), "outcomes": OUTCOMES, "exitstatus": int(exitstatus)}, out)
