"""
A flagged task instance that is up_for_retry while the deployment moves to this line (same database,
this line's ``airflow db migrate``) resumes from its checkpoint after the move; an unflagged one
starts over, as both lines' vanilla releases do.
"""

from __future__ import annotations

import os

NOTHING = {"checkpoint": None, "pushed_by_try_1": None}


def this_line() -> dict[str, str]:
    return {
        "airflow": os.environ["PATCHED_AIRFLOW_VERSION"],
        "task_sdk": os.environ["PATCHED_TASK_SDK_VERSION"],
    }


def test_the_deployment_moved_between_the_tries(upgraded):
    before, after = upgraded["versions"]
    assert before != after == os.environ["PATCHED_AIRFLOW_VERSION"]
    assert upgraded["run"]["state"] == "success"
    assert upgraded["tries"] == {"flagged": [1, 2], "plain": [1, 2]}


def test_the_flagged_retry_resumes_from_the_checkpoint_of_the_earlier_line(upgraded):
    flagged = upgraded["xcoms"]["flagged"]
    assert flagged["started_try_2"] == {"checkpoint": 50, "pushed_by_try_1": "try 1", **this_line()}
    # What try 1 (on the earlier line) pushed is still the task instance's: its own report too.
    assert flagged["started_try_1"]["airflow"] == upgraded["versions"][0]
    assert flagged["checkpoint"] == 50
    assert upgraded["xcoms"]["downstream"]["return_value"] == {"checkpoint": 50, "pushed_by_try_1": "try 1"}


def test_the_unflagged_retry_starts_over(upgraded):
    plain = upgraded["xcoms"]["plain"]
    assert plain["started_try_2"] == {**NOTHING, **this_line()}
    assert "started_try_1" not in plain
    assert "checkpoint" not in plain
