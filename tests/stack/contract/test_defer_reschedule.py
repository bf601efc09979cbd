"""Deferral (through the triggerer) and reschedule-mode sensors, with and without the flag."""

from __future__ import annotations

import pytest
from stack_api import MISSING

DAG = "stack_defer_reschedule"


@pytest.mark.parametrize("task_id", ["deferred", "deferred_unflagged"])
def test_xcoms_pushed_before_deferral_are_seen_after_it(stack, run_id, task_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, task_id)] == [1]
    assert stack.xcom(DAG, run_id, task_id, "seen_after_defer") == "pushed by try 1 before deferring"
    assert stack.xcom(DAG, run_id, task_id) == "pushed by try 1 before deferring"


def test_retry_after_a_deferral_keeps_what_both_halves_pushed(stack, run_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "deferred_then_failed")] == [1, 2]
    assert stack.xcom(DAG, run_id, "deferred_then_failed", "started_try_2") == {
        "before_defer": "pushed by try 1 before deferring",
        "seen_after_defer": "pushed by try 1 before deferring",
    }


def test_reschedule_keeps_xcoms_with_the_flag(stack, run_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "rescheduled")] == [1]
    assert stack.xcom(DAG, run_id, "rescheduled", "seen_at_poke_1") is None
    assert stack.xcom(DAG, run_id, "rescheduled", "seen_at_poke_2") == [1]
    assert stack.xcom(DAG, run_id, "rescheduled", "seen_at_poke_3") == [1, 2]
    assert stack.xcom(DAG, run_id, "rescheduled", "pokes") == [1, 2, 3]


def test_reschedule_clears_xcoms_without_the_flag(stack, run_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "rescheduled_unflagged")] == [1]
    assert stack.xcom(DAG, run_id, "rescheduled_unflagged", "seen_at_poke_3") is None
    assert stack.xcom(DAG, run_id, "rescheduled_unflagged", "pokes") == [3]
    assert stack.xcom(DAG, run_id, "rescheduled_unflagged", "seen_at_poke_1") is MISSING
