"""
Phase 3, every component patched: flagged Dags can be added. A flagged task's automatic retry
keeps its XComs (two runs); a person's clear (REST API) of one of them starts over. The rollback
phase reads both back.
"""

from __future__ import annotations

import pytest
from phases import PATCHED_WORKER


@pytest.mark.parametrize("run", ["retried", "kept"])
def test_a_flagged_retry_keeps_the_xcoms(all_patched, run):
    run = all_patched[run]
    assert run["tries"] == [1, 2]
    assert run["xcoms"]["started_try_2"] == {"checkpoint": 50, "pushed_by_try_1": "try 1", **PATCHED_WORKER}
    assert set(run["xcoms"]) == {
        "started_try_1",
        "checkpoint",
        "pushed_by_try_1",
        "started_try_2",
        "return_value",
    }
    assert run["xcoms"]["return_value"] == {"try": 2, "resumed_from": 50}


def test_a_clear_starts_over(all_patched):
    cleared = all_patched["cleared"]
    assert cleared["tries"] == [1, 2, 3]
    assert cleared["xcoms"]["started_try_3"] == {
        "checkpoint": None,
        "pushed_by_try_1": None,
        **PATCHED_WORKER,
    }
    assert set(cleared["xcoms"]) == {"started_try_3", "return_value"}


def test_no_server_errors(all_patched):
    assert all_patched["server_errors"] == []
