"""
A custom XCom backend's ``purge`` runs where and when vanilla runs it, and only when XComs are cleared.

3.3.2 purges on the worker: the try's task process deletes the previous try's XComs
(``XCom.delete`` → ``purge``) before it runs the task's code. With the flag, an automatic retry
deletes nothing, so ``purge`` is not called; a person's clear (here ``airflow tasks clear``) still
purges every XCom of the tries before it, in the next try's process. Unflagged: purged on a retry,
as in vanilla.

From 3.4 every try is an attempt of its own and a new attempt starts without rows, so the worker
has nothing to delete (``xcom_keys_to_clear`` lists only the current attempt's keys, e.g. after a
reschedule): ``purge`` is called neither on a retry, flagged or not, nor after a clear. The archived
attempts keep their rows (read from the metadata database).

The events file (``recording_backend.py``) holds the backend's ``purge`` calls and the tasks'
``start`` events in the order they happened, each with its pid and its ancestors'. The ``start``
events are written by the Dag's own code, so they would be there even if the deployment never
loaded the recording backend; the tests that expect no purge would then pass for the wrong reason.
``assert_recorder_records`` is their positive control: the Dag's ``purge_control`` task deletes an
XCom it pushed (``XCom.delete``, which calls ``purge`` on every line), and that purge must be in the
file.
"""

from __future__ import annotations

import json

import pytest
from stack_config import ATTEMPTS_ARE_ROWS

DAG = "xcom_recording"
CONTROL = "purge_control"  # its task id is no substring of "flagged" or "plain": clear_via_cli leaves it


def events(stack) -> list[dict]:
    if not stack.events_file.exists():
        return []
    return [json.loads(line) for line in stack.events_file.read_text().splitlines()]


def owner(event: dict) -> str:
    """The task id of a purged XCom (its value is "<task_id> try <n>")."""
    return str(event["value"]).strip('"').split(" ")[0]


def of_task(stack, task_id: str, since: int = 0) -> list[dict]:
    """The task's start events and the purges of its XComs, in order."""
    return [
        e
        for e in events(stack)[since:]
        if (e["event"] == "start" and e["task_id"] == task_id)
        or (e["event"] == "purge" and owner(e) == task_id)
    ]


def summary(found: list[dict]) -> list[tuple]:
    return [
        ("start", e["try"]) if e["event"] == "start" else ("purge", e["key"], str(e["value"]).strip('"'))
        for e in found
    ]


def attempts(stack, run_id: str, task_id: str) -> dict[object, dict[str, str]]:
    """Every row of the task instance in the metadata database, archived attempts' too: try -> key -> value."""
    found: dict[object, dict[str, str]] = {}
    for row in stack.xcom_rows():
        if (row["dag_id"], row["run_id"], row["task_id"]) == (DAG, run_id, task_id):
            found.setdefault(row["try_number"], {})[row["key"]] = row["value"]
    return found


def assert_recorder_records(stack, run_id: str) -> None:
    """The deployment's task processes use the recording backend and its purges reach the events file.

    ``purge_control`` pushed ``deleted`` and deleted it with ``XCom.delete``: one ``purge``, in its
    own process, after its start. A backend that never loaded (``[core] xcom_backend`` not applied,
    the scheduler not restarted, another class resolved) records no purge and fails here.
    """
    found = of_task(stack, CONTROL)
    assert summary(found) == [("start", 1), ("purge", "deleted", f"{CONTROL} try 1")], summary(found)
    assert found[0]["pid"] == found[1]["pid"]
    assert "deleted" not in stack.xcom_keys(DAG, run_id, CONTROL)


@pytest.fixture(scope="module")
def run(recording):
    stack = recording
    run_id = stack.trigger(DAG)
    stack.wait_for_run(DAG, run_id)
    return run_id


def test_no_purge_on_a_flagged_automatic_retry(recording, run):
    stack = recording
    assert_recorder_records(stack, run)  # so that the missing purge below is one the backend did not see
    assert [t["try_number"] for t in stack.tries(DAG, run, "flagged")] == [1, 2]
    assert summary(of_task(stack, "flagged")) == [("start", 1), ("start", 2)]
    assert stack.xcom_keys(DAG, run, "flagged") == {
        "marker",
        "pushed_by_try_1",
        "pushed_by_try_2",
        "return_value",
    }


def test_unflagged_retry_purges_as_vanilla(recording, run):
    stack = recording
    assert_recorder_records(stack, run)
    found = of_task(stack, "plain")
    assert stack.xcom_keys(DAG, run, "plain") == {"marker", "pushed_by_try_2", "return_value"}
    if ATTEMPTS_ARE_ROWS:
        # Vanilla 3.4: try 2 is a new attempt with no rows of its own, so nothing to delete or purge;
        # try 1's archived attempt keeps its rows.
        assert summary(found) == [("start", 1), ("start", 2)]
        assert attempts(stack, run, "plain") == {
            1: {"marker": "plain try 1", "pushed_by_try_1": "plain try 1"},
            2: {"marker": "plain try 2", "pushed_by_try_2": "plain try 2", "return_value": "plain try 2"},
        }
        return
    # Vanilla 3.3: the purges run on the worker, in the very process that then ran try 2's code, one
    # of the scheduler's (LocalExecutor) processes -- not the api-server.
    assert (summary(found[:1]), summary(found[-1:])) == ([("start", 1)], [("start", 2)]), summary(found)
    assert sorted(summary(found[1:-1])) == [
        ("purge", "marker", "plain try 1"),
        ("purge", "pushed_by_try_1", "plain try 1"),
    ]
    assert {e["pid"] for e in found[1:]} == {found[-1]["pid"]} != {found[0]["pid"]}
    assert all(stack.processes["scheduler"].pid in e["ancestors"] for e in found)


@pytest.mark.skipif(
    not ATTEMPTS_ARE_ROWS,
    reason="up to 3.3 a retry keeps the task instance's one row: deleting the key deletes the only row naming it",
)
def test_no_purge_when_a_flagged_retry_deletes_an_inherited_key(recording, run):
    """
    From 3.4 a flagged retry starts with a copy of try 1's row, naming the same value. Try 2 deletes the key
    with ``XCom.delete``: its row goes, ``purge`` is not called, and try 1's archived attempt still reads it.
    """
    stack = recording
    assert_recorder_records(stack, run)
    assert [t["try_number"] for t in stack.tries(DAG, run, "cleanup")] == [1, 2]
    assert summary(of_task(stack, "cleanup")) == [("start", 1), ("start", 2)]
    assert "inherited" not in stack.xcom_keys(DAG, run, "cleanup")
    kept = attempts(stack, run, "cleanup")
    assert kept[1] == {"inherited": "cleanup try 1"}
    assert "inherited" not in kept.get(2, {})


# From 3.4 the unflagged twin is cleared too, in a test of its own: what vanilla 3.4 does on a clear.
CLEARED = ("flagged", "plain") if ATTEMPTS_ARE_ROWS else ("flagged",)


@pytest.mark.parametrize("task_id", CLEARED)
def test_clear_via_cli(recording, run, task_id):
    stack = recording
    twin = {"flagged": "plain", "plain": "flagged"}[task_id]
    assert_recorder_records(stack, run)
    since = len(events(stack))
    stack.clear_via_cli(DAG, task_id)  # -t is a substring: each task id matches only that task
    stack.wait_for_ti(DAG, run, task_id, "success", condition=lambda ti: ti["try_number"] == 3)
    stack.wait_for_run(DAG, run)

    found = of_task(stack, task_id, since)
    assert found and found[-1]["event"] == "start" and found[-1]["try"] == 3, summary(found)
    # The clear itself (the CLI, then the scheduler) purged nothing of the untouched twin.
    assert of_task(stack, twin, since) == []
    assert stack.xcom_keys(DAG, run, task_id) == {"marker", "pushed_by_try_3", "return_value"}
    if ATTEMPTS_ARE_ROWS:
        # Try 3 is a new attempt without rows, so nothing is deleted or purged, flag or not. Tries 1
        # and 2 keep their rows (the flagged try 2's include the copy of try 1's key it started
        # with), so whatever they name stays referenced.
        assert summary(found) == [("start", 3)]
        carried = {"pushed_by_try_1": f"{task_id} try 1"} if task_id == "flagged" else {}
        assert attempts(stack, run, task_id) == {
            n: {
                "marker": f"{task_id} try {n}",
                **(carried if n == 2 else {}),
                f"pushed_by_try_{n}": f"{task_id} try {n}",
                **({"return_value": f"{task_id} try {n}"} if n > 1 else {}),
            }
            for n in (1, 2, 3)
        }
        return
    # Vanilla 3.3: purge of each of its four XComs (from tries 1 and 2), then start 3.
    assert sorted((e["key"], str(e["value"]).strip('"')) for e in found[:-1]) == [
        ("marker", "flagged try 2"),
        ("pushed_by_try_1", "flagged try 1"),
        ("pushed_by_try_2", "flagged try 2"),
        ("return_value", "flagged try 2"),
    ]
    # Where 3.3.2 purges: in try 3's task process on the worker, before try 3's code started.
    assert {e["pid"] for e in found} == {found[-1]["pid"]}
    assert all(stack.processes["scheduler"].pid in e["ancestors"] for e in found)
