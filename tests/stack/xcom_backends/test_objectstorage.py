"""
The Object Storage XCom backend (apache-airflow-providers-common-io, unmodified) with the flag.

Small values stay in the database, big ones go to gzip files under the storage path, the database
row holding the file's ``file://`` path. A flagged task's automatic retry resumes from both kinds
and its files stay. Up to 3.3 the unflagged twin's retry starts over and its file is purged, and a
person's clear of the flagged task (REST API) purges its files: nothing of the task instance is left
behind except what the try after the clear writes. From 3.4 every try is an attempt of its own that
keeps its rows and objects: nothing is purged on a retry or a clear, a new attempt starts empty (or,
flagged, with copies of its predecessor's rows, naming the same objects), and every object stays
named by some row (``xcom_v2``/``xcom_v1``, read from the metadata database). Deleting a Dag run
drops the rows and purges nothing, flag or not (upstream behaviour).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from stack_config import ATTEMPTS_ARE_ROWS

DAG = "xcom_objectstorage"
BIG = list(range(100))  # as in the Dag


def report(stack, task_id: str, try_number: int) -> dict:
    """What the try saw (written by the task itself; see the Dag's docstring)."""
    return json.loads((stack.state_dir / f"{task_id}-try{try_number}.json").read_text())


def folder(stack, run_id: str, task_id: str) -> Path:
    return stack.xcom_store / DAG / run_id / task_id


def on_disk(stack, run_id: str, task_id: str) -> set[str]:
    """The objects in the task instance's folder, by path below it (from 3.4 in a folder per attempt)."""
    path = folder(stack, run_id, task_id)
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} if path.exists() else set()


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


def named_object(stack, value: object) -> str | None:
    """The object (path below the storage folder) a row's value names, if it names one."""
    prefix = f"file://{stack.xcom_store}/"
    return value.removeprefix(prefix) if isinstance(value, str) and value.startswith(prefix) else None


def attempts(stack, run_id: str, task_id: str) -> dict[object, dict[str, object]]:
    """Every row of the task instance in the metadata database, archived attempts' too, by try and key:
    the object it names (path below the task instance's folder) or else its value."""
    found: dict[object, dict[str, object]] = {}
    prefix = f"{DAG}/{run_id}/{task_id}/"
    for row in stack.xcom_rows():
        if (row["dag_id"], row["run_id"], row["task_id"]) == (DAG, run_id, task_id):
            path = named_object(stack, row["value"])
            value = path.removeprefix(prefix) if path else row["value"]
            found.setdefault(row["try_number"], {})[row["key"]] = value
    return found


def unreferenced(stack, run_id: str) -> set[str]:
    """The run's objects that no XCom row (of any attempt, any run) names: orphans."""
    named = {named_object(stack, row["value"]) for row in stack.xcom_rows()}
    return {f for f in everything_on_disk(stack) if f.startswith(f"{DAG}/{run_id}/")} - named


def dangling(stack) -> set[str]:
    """Objects some row names that are not there."""
    named = {named_object(stack, row["value"]) for row in stack.xcom_rows()} - {None}
    return named - everything_on_disk(stack)


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
            "attempts": attempts(stack, run_id, task_id),
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
    if ATTEMPTS_ARE_ROWS:
        # Try 1's attempt kept its rows; try 2's started with copies of them, which name the very same
        # object (nothing was copied or purged in the store), and added its return value.
        big = try_1["files_at_end"][0]
        assert flagged["attempts"] == {
            1: {"small_checkpoint": 50, "big_checkpoint": big},
            2: {
                "small_checkpoint": 50,
                "big_checkpoint": big,
                "return_value": flagged["referenced"]["return_value"],
            },
        }
        assert unreferenced(stack, run_id) == set() and dangling(stack) == set()
    assert stack.xcom(DAG, run_id, "downstream") == {
        "flagged": {"small": 50, "big_len": 100, "returned_len": 100},
        "plain": {"small": None, "big_len": 0, "returned_len": 100},
    }


def test_unflagged_retry_starts_without_the_checkpoints(objectstorage, run):
    stack = objectstorage
    run_id, after_run = run
    assert [t["try_number"] for t in stack.tries(DAG, run_id, "plain")] == [1, 2]
    try_1, try_2 = report(stack, "plain", 1), report(stack, "plain", 2)
    assert len(try_1["files_at_end"]) == 1
    assert try_2["found"] == {"small": None, "big": None}
    plain = after_run["plain"]
    assert set(plain["stored"]) == {"return_value"}
    returned = set(plain["referenced"].values())  # try 2's return value, a file
    assert len(returned) == 1
    if ATTEMPTS_ARE_ROWS:
        # Vanilla 3.4: try 2 is a new attempt without rows; try 1's archived attempt keeps its rows and
        # its object (nothing purged, nothing orphaned).
        assert try_2["files_at_start"] == try_1["files_at_end"]
        assert plain["on_disk"] == returned | set(try_1["files_at_end"])
        assert plain["attempts"] == {
            1: {"small_checkpoint": 50, "big_checkpoint": try_1["files_at_end"][0]},
            2: {"return_value": next(iter(returned))},
        }
        assert unreferenced(stack, run_id) == set()
    else:
        # Vanilla 3.3: the retry's worker deleted try 1's rows and purged its file before the code ran.
        assert try_2["files_at_start"] == []
        # Only what try 2 wrote (its return value, a file) is left; try 1's file is gone from disk.
        assert try_1["files_at_end"][0] not in plain["on_disk"]
        assert plain["on_disk"] == returned


# Up to 3.3 a clear purges, which test_custom_purge proves for the CLI; from 3.4 it purges nothing,
# and what proves no orphan is the objects themselves, so the CLI's clear is checked here too.
CLEARS = [("rest", 3), ("cli", 4)] if ATTEMPTS_ARE_ROWS else [("rest", 3)]


@pytest.mark.parametrize(("way", "next_try"), CLEARS, ids=[way for way, _ in CLEARS])
def test_clear_of_the_flagged_task_instance_leaves_no_orphan(objectstorage, run, way, next_try):
    stack = objectstorage
    run_id, _ = run
    before = on_disk(stack, run_id, "flagged")
    elsewhere_before = {f for f in everything_on_disk(stack) if not f.startswith(f"{DAG}/{run_id}/flagged/")}
    if not ATTEMPTS_ARE_ROWS:
        assert len(before) == 2  # try 1's big checkpoint and try 2's return value
    assert (
        read_object(stack, run_id, "flagged", referenced_files(stack, run_id, "flagged")["return_value"])[
            "records"
        ]
        == BIG
    )

    if way == "rest":
        stack.clear_via_rest(DAG, run_id, ["flagged"])
    else:
        stack.clear_via_cli(DAG, "flagged")  # -t is a substring: "flagged" matches only that task
    stack.wait_for_ti(DAG, run_id, "flagged", "success", condition=lambda ti: ti["try_number"] == next_try)
    stack.wait_for_run(DAG, run_id)

    after_clear = report(stack, "flagged", next_try)
    assert after_clear["found"] == {"small": None, "big": None}
    after = on_disk(stack, run_id, "flagged")
    # What the try after the clear left is its return value, referenced by its row.
    assert set(stored(stack, run_id, "flagged")) == {"return_value"}
    returned = set(referenced_files(stack, run_id, "flagged").values())
    assert len(returned) == 1
    if ATTEMPTS_ARE_ROWS:
        # Nothing purged: the archived attempts keep their rows, and every object is named by one of
        # them (no object purged while a row refers to it, no orphan).
        assert after_clear["files_at_start"] == sorted(before)
        assert after == before | returned
        assert set(attempts(stack, run_id, "flagged")[next_try]) == {"return_value"}
        assert unreferenced(stack, run_id) == set() and dangling(stack) == set()
    else:
        assert after_clear["files_at_start"] == []
        assert not after & before, f"objects of the tries before the clear left behind: {after & before}"
        assert after == returned
    # The clear touched no other task instance's objects.
    elsewhere_after = {f for f in everything_on_disk(stack) if not f.startswith(f"{DAG}/{run_id}/flagged/")}
    assert elsewhere_after == elsewhere_before


@pytest.mark.skipif(
    not ATTEMPTS_ARE_ROWS,
    reason="up to 3.3 a retry keeps the task instance's one row: deleting the key deletes the only row naming it",
)
def test_flagged_retry_deleting_an_inherited_checkpoint_keeps_the_object(objectstorage):
    """
    From 3.4 a flagged retry starts with a copy of try 1's row, naming try 1's object. When try 2 deletes
    the key (``XCom.delete``, which purges on the worker), the object stays: try 1's archived attempt still
    names it, and still reads it.
    """
    stack = objectstorage
    dag_id, reports = "xcom_objectstorage_delete", stack.state_dir / "xcom_objectstorage_delete"
    reports.mkdir()
    run_id = stack.trigger(dag_id, conf={"report_dir": str(reports)})
    stack.wait_for_run(dag_id, run_id)
    assert [t["try_number"] for t in stack.tries(dag_id, run_id, "cleanup")] == [1, 2]
    assert json.loads((reports / "cleanup-try2.json").read_text())["found"] == BIG

    checkpoints = {
        row["try_number"]: row["value"]
        for row in stack.xcom_rows()
        if (row["dag_id"], row["run_id"], row["task_id"], row["key"])
        == (dag_id, run_id, "cleanup", "big_checkpoint")
    }
    # Try 2's copy is deleted; try 1's row is left, and the object it names is still there.
    assert list(checkpoints) == [1]
    assert (path := named_object(stack, checkpoints[1])) in everything_on_disk(stack)
    with gzip.open(stack.xcom_store / path) as f:
        assert json.load(f) == BIG
    assert dangling(stack) == set()


def test_deleting_the_dag_run(objectstorage):
    """``DELETE /api/v2/dags/{dag_id}/dagRuns/{run_id}`` of a run like the module's (both twins retried)."""
    stack = objectstorage
    (stack.state_dir / "deleted-run").mkdir()  # its tries' reports, apart from the module run's
    run_id = stack.trigger(DAG, conf={"report_dir": str(stack.state_dir / "deleted-run")})
    stack.wait_for_run(DAG, run_id)
    before = {task_id: on_disk(stack, run_id, task_id) for task_id in ("flagged", "plain")}
    assert {task_id: len(files) for task_id, files in before.items()} == (
        {"flagged": 2, "plain": 2} if ATTEMPTS_ARE_ROWS else {"flagged": 2, "plain": 1}
    )

    stack.request("DELETE", f"/api/v2/dags/{DAG}/dagRuns/{run_id}", expect=(204,))

    stack.request("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}", expect=(404,))
    # The rows are gone, every attempt's (from 3.4 xcom_v2 cascades from task_instance).
    assert [row for row in stack.xcom_rows() if row["run_id"] in (run_id, None)] == []
    # Upstream behaviour (vanilla 3.3 and 3.4): deleting a Dag run deletes the rows without calling the
    # backend's purge, so every object of the run stays behind, no longer named by any row.
    after = {task_id: on_disk(stack, run_id, task_id) for task_id in ("flagged", "plain")}
    assert after == before
    assert unreferenced(stack, run_id) == {
        f"{DAG}/{run_id}/{t}/{f}" for t, files in after.items() for f in files
    }
    if ATTEMPTS_ARE_ROWS:
        # The flag adds no orphan beyond what vanilla leaves: the unflagged twin leaves the same objects
        # (its try 1's checkpoint and try 2's return value), as the flag's copies name objects, not add them.
        assert sorted(Path(f).name for f in after["flagged"]) == sorted(Path(f).name for f in after["plain"])
