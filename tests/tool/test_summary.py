"""
The summary counts each suite's tests (passed, failed, skipped, deselected) through the plugin
``./test.sh`` loads into pytest, run here as ``./test.sh`` runs it: a real pytest in a subprocess.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from patched_airflow.testing.summary import Result, run_pytest, summarize

MIXED = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

def test_one(): pass
def test_two(): pass
def test_fails(): assert False
def test_skips(): pytest.skip("no frobnicator here")
@pytest.mark.xfail(reason="known")
def test_xfails(): assert False
def test_errors(broken): pass
def test_deselected(): pass
"""


def pytest_run(tmp_path: Path, files: dict[str, str], *args: str) -> Result:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    return run_pytest("demo", sys.executable, ["-p", "no:cacheprovider", *args, str(tmp_path)], tmp_path, env)


def test_the_counts_of_a_run(tmp_path: Path):
    result = pytest_run(tmp_path, {"test_mixed.py": MIXED}, "-k", "not deselected")
    assert result.code == 1
    assert result.counts == {
        "passed": 2,
        "failed": 1,
        "skipped": 1,
        "xfailed": 1,
        "error": 1,
        "deselected": 1,
    }
    # Each test's own outcome too, by node id: a failure in any phase makes it failed.
    assert {nodeid.split("::")[-1]: outcome for nodeid, outcome in result.outcomes.items()} == {
        "test_one": "passed",
        "test_two": "passed",
        "test_fails": "failed",
        "test_skips": "skipped",
        "test_xfails": "skipped",
        "test_errors": "failed",
    }
    assert result.status(ci=False) == (
        "FAILED (pytest exit 1: 2 passed, 1 failed, 1 error, 1 skipped, 1 xfailed, 1 deselected)",
        False,
    )


def test_a_module_that_does_not_import_and_one_skipped_whole(tmp_path: Path):
    files = {
        "test_broken.py": "import no_such_module_here\n",
        "test_skipped.py": "import pytest\npytest.skip('not here', allow_module_level=True)\n",
        "test_ok.py": "def test_ok(): pass\n",
    }
    result = pytest_run(tmp_path, files, "--continue-on-collection-errors")
    assert result.counts == {"error": 1, "skipped": 1, "passed": 1}
    assert result.code == 1


def test_a_suite_whose_tests_all_skipped_is_not_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    result = pytest_run(tmp_path, {"test_skips.py": "import pytest\n\ndef test_a(): pytest.skip('no')\n"})
    assert (result.code, result.counts) == (0, {"skipped": 1})
    capsys.readouterr()
    monkeypatch.delenv("CI", raising=False)
    assert summarize("line 3.3, sqlite", [result]) == 0
    assert re.search(r"^  demo +ran no test \(1 skipped\)", capsys.readouterr().out, re.M)
    monkeypatch.setenv("CI", "true")
    assert summarize("line 3.3, sqlite", [result]) == 1
    assert re.search(
        r"^  demo +FAILED \(ran no test: 1 skipped; nothing may be skipped under CI=true\)",
        capsys.readouterr().out,
        re.M,
    )


def test_nothing_collected_and_a_usage_error_fail(tmp_path: Path):
    empty = pytest_run(tmp_path, {"test_empty.py": "X = 1\n"})
    assert (empty.code, empty.counts) == (5, {})
    assert empty.status(ci=False) == ("FAILED (pytest exit 5: no test collected)", False)
    usage = pytest_run(tmp_path, {}, "--no-such-option")
    assert (usage.code, usage.counts) == (4, {})  # pytest stopped before its session: no counts
    assert not usage.status(ci=False)[1]


def test_the_summary_lists_each_suite_and_the_totals(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    results = [
        Result("lint", 0, 2.0),
        Result("mypy", 1, 3.0),
        Result("sdk", 0, 40.0, counts={"passed": 870, "deselected": 2}),
        Result("core", 0, 50.0, counts={"passed": 77, "skipped": 1}),
    ]
    assert summarize("line 3.3, sqlite", results) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-5:] == [
        "  lint          passed  2s",
        "  mypy          FAILED (exit 1)  3s",
        "  sdk           passed: 870 passed, 2 deselected  40s",
        "  core          passed: 77 passed, 1 skipped  50s",
        "  tests         947 passed, 1 skipped, 2 deselected",
    ]
    assert summarize("line 3.3, sqlite", []) == 1
    assert "no suite was selected" in capsys.readouterr().out
