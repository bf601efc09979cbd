"""
The Object Storage XCom backend (apache-airflow-providers-common-io, unmodified) with the flag.

Small values stay in the database, big ones go to gzip files under the storage path, the database
row holding the file's ``file://`` path. A flagged task's automatic retry resumes from both kinds
and its files stay; the unflagged twin's retry starts over and its file is purged; a person's clear
of the flagged task (REST API) purges its files: nothing of the task instance is left behind
except what the try after the clear writes.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

DAG = "xcom_objectstorage"
BIG = list(range(100))  # as in the Dag


def report(stack, task_id: str, try_number: int) -> dict:
    """What the try saw (written by the task itself; see the Dag's docstring)."""
    return json.loads((stack.state_dir / f"{task_id}-try{try_number}.json").read_text())


def folder(stack, run_id: str, task_id: str) -> Path:
    return stack.xcom_store / DAG / run_id / task_id


def on_disk(stack, run_id: str, task_id: str) -> set[str]:
    path = folder(stack, run_id, task_id)
    return {p.name for p in path.iterdir()} if path.exists() else set()


def everything_on_disk(stack) -> set[str]:
    return {str(p.relative_to(stack.xcom_store)) for p in stack.xcom_store.rglob("*") if p.is_file()}


def stored(stack, run_id: str, task_id: str) -> dict[str, object]:
    """Each XCom of the task instance as its database row holds it (the REST API reads the row)."""
    return {key: stack.xcom(DAG, run_id, task_id, key) for key in stack.xcom_keys(DAG, run_id, task_id)}


def referenced_files(stack, run_id: str, task_id: str) -> dict[str, str]:
    """The file each XCom stored in object storage points to, by key."""
    prefix = f"file://{folder(stack, run_id, task_id)}/"
    return {
        key: value.removeprefix(prefix)
        for key, value in stored(stack, run_id, task_id).items()
        if isinstance(value, str) and value.startswith(prefix)
    }


def read_object(stack, run_id: str, task_id: str, name: str) -> object:
    with gzip.open(folder(stack, run_id, task_id) / name) as f:  # fails unless gzip-compressed
        return json.load(f)


@pytest.fixture(scope="module")
def run(objectstorage):
    """A finished run, and what its task instances had (rows and files) right after it."""
    stack = objectstorage
    run_id = stack.trigger(DAG, conf={"report_dir": str(stack.state_dir)})
    stack.wait_for_run(DAG, run_id)
    after_run = {
        task_id: {
            "stored": stored(stack, run_id, task_id),
            "referenced": referenced_files(stack, run_id, task_id),
            "on_disk": on_disk(stack, run_id, task_id),
        }
        for task_id in ("flagged", "plain")
    }
    return run_id, after_run


def test_flagged_retry_resumes_from_database_and_file_checkpoints(objectstorage, run):
    stack = objectstorage
    run_id, after_run = run
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "flagged")] == [1, 2]
    try_1, try_2 = report(stack, "flagged", 1), report(stack, "flagged", 2)
    # Try 1 wrote one object, the big checkpoint, compressed; the small one went to the database.
    assert try_1["files_at_start"] == []
    assert len(try_1["files_at_end"]) == 1 and try_1["files_at_end"][0].endswith(".gz")
    # The retry found both checkpoints (the big one read back from its file), and the file was there.
    assert try_2["found"] == {"small": 50, "big": BIG}
    assert try_2["files_at_start"] == try_1["files_at_end"]

    flagged = after_run["flagged"]
    assert flagged["stored"]["small_checkpoint"] == 50  # in the row itself
    assert flagged["referenced"]["big_checkpoint"] == try_1["files_at_end"][0]  # try 1's file, kept
    assert set(flagged["referenced"]) == {"big_checkpoint", "return_value"}
    # Every file is some XCom's, and every such XCom's file exists: no orphan, nothing dangling.
    assert flagged["on_disk"] == set(flagged["referenced"].values())
    assert stack.xcom(DAG, run_id, "downstream") == {
        "flagged": {"small": 50, "big_len": 100, "returned_len": 100},
        "plain": {"small": None, "big_len": 0, "returned_len": 100},
    }


def test_unflagged_retry_clears_rows_and_purges_files(objectstorage, run):
    stack = objectstorage
    run_id, after_run = run
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "plain")] == [1, 2]
    try_1, try_2 = report(stack, "plain", 1), report(stack, "plain", 2)
    assert len(try_1["files_at_end"]) == 1
    # Vanilla: the retry's worker deleted try 1's rows and purged its file before the code ran.
    assert try_2["files_at_start"] == []
    assert try_2["found"] == {"small": None, "big": None}
    plain = after_run["plain"]
    # Only what try 2 wrote (its return value, a file) is left; try 1's file is gone from disk.
    assert set(plain["stored"]) == {"return_value"}
    assert try_1["files_at_end"][0] not in plain["on_disk"]
    assert plain["on_disk"] == set(plain["referenced"].values()) and len(plain["on_disk"]) == 1


def test_clear_via_rest_purges_the_flagged_task_instances_objects(objectstorage, run):
    stack = objectstorage
    run_id, _ = run
    before = on_disk(stack, run_id, "flagged")
    elsewhere_before = {f for f in everything_on_disk(stack) if not f.startswith(f"{DAG}/{run_id}/flagged/")}
    assert len(before) == 2  # try 1's big checkpoint and try 2's return value
    assert (
        read_object(stack, run_id, "flagged", referenced_files(stack, run_id, "flagged")["return_value"])[
            "records"
        ]
        == BIG
    )

    stack.clear_via_rest(DAG, run_id, ["flagged"])
    stack.wait_for_ti(DAG, run_id, "flagged", "success", condition=lambda ti: ti["try_number"] == 3)
    stack.wait_for_run(DAG, run_id)

    try_3 = report(stack, "flagged", 3)
    assert try_3["files_at_start"] == [] and try_3["found"] == {"small": None, "big": None}
    after = on_disk(stack, run_id, "flagged")
    assert not after & before, f"objects of the tries before the clear left behind: {after & before}"
    # What is there now is exactly try 3's return value, referenced by its row.
    assert set(stored(stack, run_id, "flagged")) == {"return_value"}
    assert after == set(referenced_files(stack, run_id, "flagged").values()) and len(after) == 1
    # The clear touched no other task instance's objects.
    elsewhere_after = {f for f in everything_on_disk(stack) if not f.startswith(f"{DAG}/{run_id}/flagged/")}
    assert elsewhere_after == elsewhere_before
