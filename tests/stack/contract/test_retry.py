"""Automatic retry after the task raised, through the real scheduler, executor and API server."""

from __future__ import annotations

from stack_api import MISSING

DAG = "stack_retry"


def test_flagged_task_resumes_from_its_checkpoint(stack, run_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "flagged")] == [1, 2]
    assert stack.xcom(DAG, run_id, "flagged", "started_try_1") == {"checkpoint": None, "written_once": None}
    # Try 2 found what try 1 pushed before it failed at record 50, and did only the rest.
    assert stack.xcom(DAG, run_id, "flagged", "started_try_2") == {"checkpoint": 50, "written_once": "try 1"}
    assert stack.xcom(DAG, run_id, "flagged") == {"try": 2, "resumed_from": 50, "steps": 5}


def test_unflagged_task_starts_over(stack, run_id):
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "unflagged")] == [1, 2]
    assert stack.xcom(DAG, run_id, "unflagged", "started_try_2") == {"checkpoint": None, "written_once": None}
    assert stack.xcom(DAG, run_id, "unflagged") == {"try": 2, "resumed_from": None, "steps": 10}
    # Vanilla: try 2 deleted everything try 1 pushed.
    assert stack.xcom_keys(DAG, run_id, "unflagged") == {"started_try_2", "checkpoint", "return_value"}
    assert stack.xcom(DAG, run_id, "unflagged", "written_once") is MISSING


def test_downstream_reads_the_final_xcoms(stack, run_id):
    # Everything both tries of the flagged task left, including the key only try 1 wrote.
    assert stack.xcom_keys(DAG, run_id, "flagged") == {
        "started_try_1",
        "started_try_2",
        "written_once",
        "checkpoint",
        "return_value",
    }
    seen = stack.xcom(DAG, run_id, "downstream")
    assert seen["flagged"] == {
        "checkpoint": 100,
        "written_once": "try 1",
        "started_try_1": {"checkpoint": None, "written_once": None},
        "started_try_2": {"checkpoint": 50, "written_once": "try 1"},
        "return_value": {"try": 2, "resumed_from": 50, "steps": 5},
    }
    assert seen["unflagged"] == {
        "checkpoint": 100,
        "written_once": None,
        "started_try_1": None,
        "started_try_2": {"checkpoint": None, "written_once": None},
        "return_value": {"try": 2, "resumed_from": None, "steps": 10},
    }
