"""
Phase 4, the reverse mix: a vanilla 3.3.2 api-server with the patched scheduler, task processes
and dag-processor.

The vanilla api-server serves the flagged Dag that the patched dag-processor serialized (the Dag,
its details, its tasks), the XComs a flagged retry kept and those of the run a person cleared. Its
Execution API sends no ``is_automatic_restart``, so the patched worker cannot tell a retry from a
clear and falls back to vanilla: the flagged task's retry clears its XComs.
"""

from __future__ import annotations

from phases import PATCHED_WORKER, VANILLA_VERSION


def test_the_api_server_is_vanilla(api_last):
    assert api_last["api_version"] == VANILLA_VERSION


def test_the_flagged_dag_is_served(api_last):
    for served in (api_last["served"], api_last["served_forgotten"]):
        assert [t["task_id"] for t in served["tasks"]] == ["work"]
        assert served["task"]["task_id"] == "work"
        assert served["details"]["dag_id"] == served["dag"]["dag_id"]
    assert api_last["served"]["task"]["retries"] == 1


def test_xcoms_a_flagged_retry_kept_are_served(api_last, all_patched):
    kept = api_last["kept_run"]
    assert {"run_id": all_patched["kept"]["run_id"], **kept} == all_patched["kept"]
    assert kept["xcoms"]["pushed_by_try_1"] == "try 1" and kept["xcoms"]["checkpoint"] == 50


def test_the_cleared_run_is_served(api_last, all_patched):
    assert api_last["cleared_run"] == all_patched["cleared"]


def test_the_patched_worker_falls_back_to_vanilla(api_last):
    run = api_last["run"]
    assert run["tries"] == [1, 2]
    assert run["xcoms"]["started_try_2"] == {"checkpoint": None, "pushed_by_try_1": None, **PATCHED_WORKER}
    assert set(run["xcoms"]) == {"started_try_2", "return_value"}
    assert "Keeping XComs from the previous try" not in api_last["task_log_try_2"]


def test_no_server_errors(api_last):
    assert api_last["server_errors"] == []
