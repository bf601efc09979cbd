"""
A custom XCom backend's ``purge`` runs where and when 3.3.2 runs it, and only when XComs are cleared.

3.3.2 purges on the worker: the try's task process deletes the previous try's XComs
(``XCom.delete`` → ``purge``) before it runs the task's code. With the flag, an automatic retry
deletes nothing, so ``purge`` is not called; a person's clear (here ``airflow tasks clear``) still
purges every XCom of the tries before it, in the next try's process. Unflagged: purged on a retry,
as in vanilla. The events file (``recording_backend.py``) holds the backend's ``purge`` calls and
the tasks' ``start`` events in the order they happened, each with its pid and its ancestors'.
"""

from __future__ import annotations

import json

import pytest

DAG = "xcom_recording"


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


@pytest.fixture(scope="module")
def run(recording):
    stack = recording
    run_id = stack.trigger(DAG)
    stack.wait_for_run(DAG, run_id)
    return run_id


def test_no_purge_on_a_flagged_automatic_retry(recording, run):
    stack = recording
    assert [t["try_number"] for t in stack.tries(DAG, run, "flagged")] == [1, 2]
    assert summary(of_task(stack, "flagged")) == [("start", 1), ("start", 2)]
    assert stack.xcom_keys(DAG, run, "flagged") == {
        "marker",
        "pushed_by_try_1",
        "pushed_by_try_2",
        "return_value",
    }


def test_purge_on_an_unflagged_retry_in_the_retry_s_task_process(recording, run):
    stack = recording
    found = of_task(stack, "plain")
    assert (summary(found[:1]), summary(found[-1:])) == ([("start", 1)], [("start", 2)]), summary(found)
    assert sorted(summary(found[1:-1])) == [
        ("purge", "marker", "plain try 1"),
        ("purge", "pushed_by_try_1", "plain try 1"),
    ]
    # On the worker: in the very process that then ran try 2's code, one of the scheduler's
    # (LocalExecutor) processes -- not the api-server.
    assert {e["pid"] for e in found[1:]} == {found[-1]["pid"]} != {found[0]["pid"]}
    assert all(stack.processes["scheduler"].pid in e["ancestors"] for e in found)
    assert stack.xcom_keys(DAG, run, "plain") == {"marker", "pushed_by_try_2", "return_value"}


def test_clear_via_cli_purges_every_xcom_of_the_flagged_task(recording, run):
    stack = recording
    since = len(events(stack))
    stack.clear_via_cli(DAG, "flagged")  # -t is a substring: "flagged" matches only that task
    stack.wait_for_ti(DAG, run, "flagged", "success", condition=lambda ti: ti["try_number"] == 3)
    stack.wait_for_run(DAG, run)

    found = of_task(stack, "flagged", since)
    assert found and found[-1]["event"] == "start" and found[-1]["try"] == 3, summary(found)
    purges = found[:-1]
    assert sorted((e["key"], str(e["value"]).strip('"')) for e in purges) == [
        ("marker", "flagged try 2"),
        ("pushed_by_try_1", "flagged try 1"),
        ("pushed_by_try_2", "flagged try 2"),
        ("return_value", "flagged try 2"),
    ]
    # Where 3.3.2 purges: in try 3's task process on the worker, before try 3's code started.
    assert {e["pid"] for e in found} == {found[-1]["pid"]}
    assert all(stack.processes["scheduler"].pid in e["ancestors"] for e in found)
    # The clear itself (the CLI, then the scheduler) purged nothing of the untouched twin.
    assert of_task(stack, "plain", since) == []
    assert stack.xcom_keys(DAG, run, "flagged") == {"marker", "pushed_by_try_3", "return_value"}
