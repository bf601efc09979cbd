"""
Phase 5, rolling back the rest (the api-server is vanilla since phase 4): the scheduler and the
dag-processor stopped, vanilla 3.3.2's ``airflow db migrate`` on the same database, the flag removed
from one Dag file and forgotten in another, both started again from vanilla.

Nothing is lost: the main tables keep every row (the migration changes nothing at all, not even the
Alembic revision), the old runs and their XComs read back through the vanilla REST API as they did
before, the forgotten file is an import error naming the argument, and new runs succeed.
"""

from __future__ import annotations

from phases import HISTORY, TABLES, VANILLA_VERSION, VANILLA_WORKER, counts

UNCHANGED = ("dag_run", "task_instance", *HISTORY)


def test_vanilla_migrate_is_a_no_op(rolled_back):
    assert rolled_back["rows_after_migrate"] == rolled_back["rows_before"]


def test_nothing_is_lost(rolled_back):
    before, after = rolled_back["rows_before"], rolled_back["rows_after_start"]
    for table in TABLES:
        assert before[table] <= after[table], f"{table}: rows lost: {before[table] - after[table]}"
    for table in UNCHANGED:
        assert after[table] == before[table], table
    # The only new rows: the rolled-back Dag file's new version, as the vanilla dag-processor parsed it.
    assert counts(after) == {
        **counts(before),
        "serialized_dag": counts(before)["serialized_dag"] + 1,
        "dag_version": counts(before)["dag_version"] + 1,
    }


def test_old_runs_and_xcoms_read_back(rolled_back, all_patched):
    assert rolled_back["api_version"] == VANILLA_VERSION
    before, after = rolled_back["snapshot_before"], rolled_back["snapshot_after"]
    assert after == before
    # The runs the patched build made read as the patched api-server served them.
    assert {key: after[key] for key in all_patched["snapshot"]} == all_patched["snapshot"]
    cleared = after[("rollout_flagged", all_patched["retried"]["run_id"])]
    assert cleared["try_states"] == [(1, "failed"), (2, "success"), (3, "success")]
    assert set(cleared["xcoms"]) == {"started_try_3", "return_value"}
    # What a flagged retry kept is still there, as it was: try 1's keys beside try 2's.
    kept = after[("rollout_flagged", all_patched["kept"]["run_id"])]
    assert kept["try_states"] == [(1, "failed"), (2, "success")]
    assert kept["xcoms"] == all_patched["kept"]["xcoms"]
    assert kept["xcoms"]["checkpoint"] == 50 and kept["xcoms"]["pushed_by_try_1"] == "try 1"


def test_old_dag_versions_read_back(rolled_back):
    nodes = [node["id"] for node in rolled_back["old_structure"]["nodes"]]
    assert nodes == ["work"]
    assert rolled_back["grid"] and rolled_back["grid_runs"]


def test_a_forgotten_flag_is_an_import_error(rolled_back):
    errors = rolled_back["import_errors"]
    assert [e["filename"] for e in errors] == ["rollout_forgotten.py"]
    assert "persist_xcom_through_retry" in errors[0]["stack_trace"]


def test_new_runs_succeed_as_vanilla(rolled_back):
    for run in rolled_back["new_runs"].values():
        assert run["tries"] == [1, 2]
        assert run["xcoms"]["started_try_2"] == {
            "checkpoint": None,
            "pushed_by_try_1": None,
            **VANILLA_WORKER,
        }
    assert counts(rolled_back["rows_at_end"])["dag_run"] == counts(rolled_back["rows_before"])["dag_run"] + 2


def test_no_server_errors(rolled_back):
    assert rolled_back["server_errors"] == []
