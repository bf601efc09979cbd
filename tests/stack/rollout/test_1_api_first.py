"""
Phase 1, the api-server upgraded first: a patched api-server with vanilla 3.3.2 task processes
(the LocalExecutor runs them in the vanilla scheduler's virtualenv) and a vanilla dag-processor.

Only unflagged Dags can be there (vanilla cannot parse the flag). Runs succeed, a retry clears
XComs as vanilla does, and the api-server logs no error.
"""

from __future__ import annotations

from phases import PATCHED_VERSION, VANILLA_WORKER

NOTHING = {"checkpoint": None, "pushed_by_try_1": None}


def test_the_api_server_is_patched(api_first):
    assert api_first["api_version"] == PATCHED_VERSION


def test_a_vanilla_worker_retries_as_vanilla(api_first):
    run = api_first["run"]
    assert run["tries"] == [1, 2]
    # Try 2 ran on vanilla 3.3.2, found none of try 1's XComs, and they are gone.
    assert run["xcoms"]["started_try_2"] == {**NOTHING, **VANILLA_WORKER}
    assert set(run["xcoms"]) == {"started_try_2", "return_value"}
    assert run["xcoms"]["return_value"] == {"try": 2, "resumed_from": None}


def test_the_dag_is_served(api_first):
    served = api_first["served"]
    assert [t["task_id"] for t in served["tasks"]] == ["work"]
    assert served["task"]["retries"] == 1
    assert len(served["versions"]) == 1  # serialized once, by the vanilla dag-processor


def test_no_server_errors(api_first):
    assert api_first["server_errors"] == []
