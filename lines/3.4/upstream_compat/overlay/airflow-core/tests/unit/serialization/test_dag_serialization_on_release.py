"""
The series' hunk of upstream's ``test_dag_serialization.py``, run against this line's release.

Harness only (an overlay file of the 3.4 line, not part of the upstream pull request).

0002 adds ``"persist_xcom_through_retry": False`` to the expected dict of
``TestStringifiedDAGs::test_no_new_fields_added_to_base_operator``. The module itself cannot run here:
it imports the kubernetes client and the cncf.kubernetes provider, and ``tests_common`` modules
this harness lacks (``markers``, ``providers``, ``timetables``, ``unit.models``). And its pinned
copy is from main (003b17149b), newer than 3.4.0b2, whose ``BaseOperator`` differs in two fields
regardless of the series. So this module reads that test's expected dict from the assembled tree's
file, as the series left it, and compares it with what the installed ``BaseOperator`` serializes,
computed as the upstream test computes it, allowing exactly those two upstream differences and
no other. Against vanilla 3.4.0b2 it fails (no ``persist_xcom_through_retry``).
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from airflow.sdk import WeightRule
from airflow.sdk.bases.operator import BaseOperator
from airflow.task.trigger_rule import TriggerRule

UPSTREAM_TEST = Path(__file__).with_name("test_dag_serialization.py")
CLASS, TEST = "TestStringifiedDAGs", "test_no_new_fields_added_to_base_operator"
# The pinned copy (main, 003b17149b) against 3.4.0b2, series or not: main's field, 3.4.0b2's field.
ONLY_ON_MAIN = {"depends_on_previous_tasks": None}
ONLY_IN_THE_RELEASE = {"returns_dag_result": False}


def expected_fields() -> dict:
    """The dict the upstream test asserts ``fields == ...`` against, evaluated as the test would."""
    module = ast.parse(UPSTREAM_TEST.read_text())
    (test,) = (
        node
        for cls in module.body
        if isinstance(cls, ast.ClassDef) and cls.name == CLASS
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == TEST
    )
    (expected,) = (
        node.test.comparators[0]
        for node in ast.walk(test)
        if isinstance(node, ast.Assert)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "fields"
    )
    names = {"timedelta": timedelta, "TriggerRule": TriggerRule, "WeightRule": WeightRule}
    return eval(compile(ast.Expression(expected), str(UPSTREAM_TEST), "eval"), names)


@pytest.mark.skipif(not UPSTREAM_TEST.exists(), reason=f"the tree lacks the pinned {UPSTREAM_TEST.name}")
def test_no_new_fields_added_to_base_operator():
    expected = expected_fields()
    assert expected["persist_xcom_through_retry"] is False  # the series' hunk
    for name, value in ONLY_ON_MAIN.items():  # stale if the pin moves to a copy matching the release
        assert expected.pop(name) == value
    for name, value in ONLY_IN_THE_RELEASE.items():
        assert name not in expected
        expected[name] = value

    # The upstream test's own computation of the fields.
    base_operator = BaseOperator(task_id="10")
    field_names = {
        fld.name for fld in dataclasses.fields(BaseOperator) if fld.name in BaseOperator.get_serialized_fields()
    } | BaseOperator.get_serialized_fields()
    fields = {k: getattr(base_operator, k) for k in field_names}
    assert fields == expected
