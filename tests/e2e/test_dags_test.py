"""``airflow dags test`` of a real Dag file through the installed patched wheels."""

from __future__ import annotations

from conftest import reports


def test_dags_test_follows_the_contract(airflow):
    result = airflow("dags", "test", "persist_xcom_e2e")
    seen = reports(result.stdout + result.stderr)

    # Automatic retry after the task raised: kept with the flag, cleared without.
    assert seen[("flagged", -1, 1)]["start"] == "None"
    assert seen[("flagged", -1, 2)]["start"] == "50"
    assert seen[("unflagged", -1, 2)]["start"] == "None"

    # Each mapped task instance resumes from its own map index's checkpoint only.
    for index in range(3):
        assert seen[("mapped", index, 1)]["start"] == "None"
        assert seen[("mapped", index, 2)]["start"] == f"own-{index}"

    # Downstream sees what the flagged task left: the final checkpoint and the key only try 1 wrote.
    assert seen[("downstream", -1, 1)] == {
        "checkpoint": "100",
        "written_once": "try1",
        "unflagged_written_once": "None",
    }
    assert "state=success, run_type=manual" in result.stdout + result.stderr


def test_dags_test_with_the_flag_in_default_args(airflow):
    result = airflow("dags", "test", "persist_xcom_default_args")
    seen = reports(result.stdout + result.stderr)
    assert seen[("from_default_args", -1, 2)]["start"] == "50"


def test_dags_test_with_the_flag_set_by_a_cluster_policy(airflow):
    result = airflow("dags", "test", "persist_xcom_policy")
    seen = reports(result.stdout + result.stderr)
    assert seen[("from_policy", -1, 2)]["start"] == "50"
    assert seen[("mapped_from_policy", 0, 2)]["start"] == "own-0"
    assert seen[("mapped_from_policy", 1, 2)]["start"] == "own-1"
