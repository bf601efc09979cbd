"""A tree without some pinned upstream files: the build stamp records it, and the suites that read them skip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from patched_airflow.building.stamp import inputs_digest, read_missing, write_missing
from patched_airflow.lines import Lines
from patched_airflow.testing.suites import SUITES, files_read
from patched_airflow.testing.summary import Result, summarize

REPO = Path(__file__).resolve().parents[2]
DOCS = "airflow-core/docs/core-concepts/xcoms.rst"
SERIALIZATION = "airflow-core/tests/unit/serialization/test_dag_serialization.py"
TASK_INSTANCES = "airflow-core/tests/unit/api_fastapi/execution_api/versions/head/test_task_instances.py"


def test_a_partial_build_is_stale_once_the_files_can_be_had():
    line = Lines.load(REPO).one("3.3")
    assert inputs_digest(REPO, line, [DOCS]) != inputs_digest(REPO, line, [])
    assert inputs_digest(REPO, line, []) == inputs_digest(REPO, line)


def test_the_record_of_missing_files(tmp_path: Path):
    line = Lines.load(REPO).one("3.3")
    line = type(line)(line.name, line.folder, tmp_path, tmp_path / "dist")
    write_missing(line, {DOCS: "https://example.invalid/x"})
    assert read_missing(line) == {DOCS: "https://example.invalid/x"}
    write_missing(line, {})
    assert read_missing(line) == {}


def test_which_suites_read_which_missing_files():
    lines = Lines.load(REPO)
    suites = {suite.name: suite for suite in SUITES}
    missing = [DOCS, SERIALIZATION]
    line = lines.one("3.4")
    assert files_read(suites["upstream-pr"], line, missing) == missing
    assert files_read(suites["lint"], line, missing) == [SERIALIZATION]
    assert files_read(suites["mypy"], line, missing) == []
    assert files_read(suites["sdk"], line, missing) == []
    # 3.4 checks the serialization test's hunk through an overlay module of its own, which skips without it.
    assert files_read(suites["core"], line, missing) == []
    # 3.3 lists the module's tests by node id (module.py::Class::test): reading those reads the module.
    assert files_read(suites["core"], lines.one("3.3"), [*missing, TASK_INSTANCES]) == [TASK_INSTANCES]
    assert files_read(suites["e2e"], line, missing) == []


def test_a_skipped_suite_is_not_passed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    results = [
        Result("tool", 0, 1.0, counts={"passed": 3}),
        Result("upstream-pr", None, reason="the built tree lacks x"),
    ]
    assert summarize("line 3.3, sqlite", results) == 0
    out = capsys.readouterr().out
    assert re.search(r"upstream-pr +skipped \(the built tree lacks x\)  0s$", out, re.M)
    assert re.search(r"tool +passed: 3 passed  1s$", out, re.M)
    monkeypatch.setenv("CI", "true")
    assert summarize("line 3.3, sqlite", results) == 1
    assert "nothing may be skipped under CI=true" in capsys.readouterr().out
