"""
A person's clear of a flagged task instance starts over, whatever its state: success, failed,
up_for_retry or running, cleared through the REST API or ``airflow tasks clear``.

All eight runs start together (``start_runs``); the ``cleared`` fixture clears each one as soon
as it is in its state, then every test waits for its own run to finish and checks that the try
after the clear found none of the XComs from before.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from stack_api import MISSING
from stack_config import ATTEMPTS_ARE_ROWS, TERMINAL_TI_STATES, StackError

STATES = ("success", "failed", "up_for_retry", "running")
WAYS = ("rest", "cli")
SCENARIOS = [(state, way) for state in STATES for way in WAYS]
# The try the task instance is at when it is in the state to clear, and the try that runs after it.
# From 3.4 the task instance up_for_retry is try 2, not yet started (try 1 is archived); a clear
# makes that attempt start over, so try 2 runs after the clear.
TRY_AT_CLEAR = {"success": 1, "failed": 2, "up_for_retry": 2 if ATTEMPTS_ARE_ROWS else 1, "running": 1}
TRY_AFTER_CLEAR = {
    state: 2 if state == "up_for_retry" and ATTEMPTS_ARE_ROWS else n + 1 for state, n in TRY_AT_CLEAR.items()
}
# The state of the Dag run when its only task instance is in a finished state.
RUN_STATE_AT_CLEAR = {"success": "success", "failed": "failed"}
NOTHING = {"marker": None, "started_try_1": None, "started_try_2": None}


def dag_id(state: str, way: str) -> str:
    return f"stack_clear_{state}_{way}"


def start_runs(stack):
    return {
        (state, way): stack.trigger(
            dag_id(state, way), conf={"release_file": str(stack.state_dir / f"release-{state}-{way}")}
        )
        for state, way in SCENARIOS
    }


def ready_to_clear(stack, state: str, way: str, run_id: str) -> bool:
    """Whether the task instance is in the state to clear; raise if it can no longer get there."""
    dag = dag_id(state, way)
    ti = stack.task_instance(dag, run_id, "work")
    if (ti["state"], ti["try_number"]) == (state, TRY_AT_CLEAR[state]):
        if state in RUN_STATE_AT_CLEAR:
            # As a person sees it: the run has ended too. Cleared before the scheduler marks the run
            # ended, the scheduler may still end it after the clear has set it queued, and the
            # cleared task instance is then never scheduled (upstream 3.3.2, flag or not).
            return stack.dag_run(dag, run_id)["state"] == RUN_STATE_AT_CLEAR[state]
        # A running task has pushed its marker before it blocks.
        return state != "running" or stack.xcom(dag, run_id, "work", "marker") == "pushed by try 1"
    if ti["state"] in TERMINAL_TI_STATES or ti["try_number"] > TRY_AT_CLEAR[state]:
        raise AssertionError(
            f"{dag}/{run_id}/work went to {ti['state']} at try {ti['try_number']} instead of "
            f"{state} at try {TRY_AT_CLEAR[state]}:\n{stack.describe_run(dag, run_id)}"
        )
    return False


@pytest.fixture(scope="module")
def cleared(stack, started):
    """Clear every scenario's task instance in its state. Returns the run ids, the XComs each task
    instance had just before its clear, and what went wrong for a scenario, if anything."""
    runs = started[__name__]
    before: dict[tuple[str, str], dict] = {}
    errors: dict[tuple[str, str], str] = {}
    pending = dict(runs)
    cli_clears = ThreadPoolExecutor(max_workers=2)  # ``airflow tasks clear`` takes seconds to start
    futures = {}

    def clear_the_ready_ones() -> bool:
        for (state, way), run_id in list(pending.items()):
            dag = dag_id(state, way)
            try:
                if not ready_to_clear(stack, state, way, run_id):
                    continue
                keys = stack.xcom_keys(dag, run_id, "work")
                before[(state, way)] = {key: stack.xcom(dag, run_id, "work", key) for key in keys}
                if way == "rest":
                    stack.clear_via_rest(dag, run_id, ["work"])
                else:
                    futures[(state, way)] = cli_clears.submit(stack.clear_via_cli, dag, "work")
            except AssertionError as e:
                errors[(state, way)] = str(e)
            del pending[(state, way)]
        return not pending

    try:
        stack.wait_until(clear_the_ready_ones, 600, "every scenario to reach its state", interval=0.5)
    except StackError as e:
        errors.update({scenario: str(e) for scenario in pending})
    finally:
        for scenario, future in futures.items():
            if error := future.exception():
                errors[scenario] = str(error)
        cli_clears.shutdown()
    yield runs, before, errors
    for state, way in SCENARIOS:  # never leave a task blocked, whatever happened
        (stack.state_dir / f"release-{state}-{way}").touch()


@pytest.mark.parametrize(("state", "way"), SCENARIOS, ids=[f"{s}-{w}" for s, w in SCENARIOS])
def test_clear_starts_over(stack, cleared, state, way):
    runs, before, errors = cleared
    dag, run_id = dag_id(state, way), runs[(state, way)]
    if error := errors.get((state, way)):
        pytest.fail(f"could not clear {dag} in state {state}: {error}")
    # Before the clear the flag was at work: try 2 of "failed" (an automatic retry) found try 1's. From
    # 3.4 the task instance up_for_retry is the attempt not started yet, holding what it will start with.
    expected_before = {
        "marker": f"pushed by try {1 if state == 'up_for_retry' else TRY_AT_CLEAR[state]}",
        "started_try_1": NOTHING,
        **(
            {"started_try_2": {**NOTHING, "marker": "pushed by try 1", "started_try_1": NOTHING}}
            if state == "failed"
            else {}
        ),
        **({"return_value": "try 1"} if state == "success" else {}),
    }
    assert before[(state, way)] == expected_before

    stack.wait_for_run(dag, run_id, timeout=600)
    ti = stack.task_instance(dag, run_id, "work")
    after = TRY_AFTER_CLEAR[state]
    assert (ti["state"], ti["try_number"]) == ("success", after)
    assert stack.xcom(dag, run_id, "work", f"started_try_{after}") == NOTHING
    assert stack.xcom_keys(dag, run_id, "work") == {f"started_try_{after}", "marker", "return_value"}
    assert stack.xcom(dag, run_id, "work", "marker") == f"pushed by try {after}"
    assert stack.xcom(dag, run_id, "work", "started_try_1") is MISSING
