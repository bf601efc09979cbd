"""
Phase 2, the scheduler and the dag-processor upgraded: a Dag serialized by the vanilla
dag-processor is read (patched api-server) and run (patched scheduler and task processes) by the
patched build, as vanilla would. Re-parsed by the patched dag-processor, the unflagged Dag
serializes as it did on vanilla: the same ``serialized_dag`` row, no new Dag version.
"""

from __future__ import annotations

from phases import PATCHED_WORKER

NOTHING = {"checkpoint": None, "pushed_by_try_1": None}


def test_the_patched_build_runs_a_vanilla_serialized_dag_as_vanilla(vanilla_serialized):
    run = vanilla_serialized["run"]
    assert run["tries"] == [1, 2]
    assert run["xcoms"]["started_try_2"] == {**NOTHING, **PATCHED_WORKER}  # unflagged: cleared
    assert set(run["xcoms"]) == {"started_try_2", "return_value"}


def test_the_patched_dag_processor_serializes_it_as_vanilla_did(vanilla_serialized):
    versions = vanilla_serialized["served"]["versions"]
    assert len(versions) == 1
    assert vanilla_serialized["versions_after"] == versions
    # The same serialized_dag row, same hash, not even rewritten.
    assert len(vanilla_serialized["serialized_before"]) == 1
    assert vanilla_serialized["serialized_after"] == vanilla_serialized["serialized_before"]


def test_no_server_errors(vanilla_serialized):
    assert vanilla_serialized["server_errors"] == []
