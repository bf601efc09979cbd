"""
A Celery worker dies mid-task: the heartbeat timeout fails the task instance, the retry runs on the
other worker and, flagged, resumes from the last checkpoint the dead worker's try pushed.

``test_retry_on_the_other_worker`` kills the whole worker as a host crash would:
``stack.kill(worker, descendants=True)`` SIGKILLs the worker's process group (the Celery main process
and its pool process, which is the task's supervisor) and the task process, which Airflow 3.3 puts in
a process group of its own. No process is left to report the failure; Celery's own "worker lost"
handling (in the main process) dies with it. ``test_executor_reported_failure`` kills only the pool
process and the task process, so that Celery reports the failure. The timings are measured and
printed to the terminal, not asserted.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from typing import Any

import pytest
from processes import command_line, parent_pid
from stack import AirflowStack
from stack_config import TASK_PROCESS_GROUPS

KILL_AFTER = 3  # checkpoints try 1 pushes before the kill
STEPS = 40  # dags/celery_checkpoint.py
TASK = "work"


def records(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    """What the task's tries recorded (dags/celery_checkpoint.py), in order."""
    path = stack.state_dir / f"{dag_id}.{TASK}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def pushed(stack: AirflowStack, dag_id: str, try_number: int) -> list[dict[str, Any]]:
    return [r for r in records(stack, dag_id) if r["event"] == "pushed" and r["try"] == try_number]


def timestamp(text: str | None) -> float | None:
    return datetime.datetime.fromisoformat(text).timestamp() if text else None


def checkpointed_run(stack: AirflowStack, workers: tuple[str, ...], dag_id: str) -> tuple[str, str, int]:
    """Trigger ``dag_id`` and wait for ``KILL_AFTER`` checkpoints: (run id, worker of try 1, task pid)."""
    # A worker an earlier test killed comes back now (and is booting while try 1 runs on the other).
    for name in workers:
        if name not in stack.processes:
            stack.start_component(name)
    run_id = stack.trigger(dag_id, conf={"record_dir": str(stack.state_dir)})
    stack.wait_until(
        lambda: len(pushed(stack, dag_id, 1)) >= KILL_AFTER,
        180,
        f"{KILL_AFTER} checkpoints of {dag_id}",
        interval=0.2,
    )
    worker = stack.task_instance(dag_id, run_id, TASK)["hostname"]
    # The worker named in the REST API is the one whose process tree holds the task process.
    runner = pushed(stack, dag_id, 1)[-1]["pid"]
    owners = [name for name in workers if runner in stack.component_pids(name)]
    assert owners == [worker], (worker, owners, runner)
    return run_id, worker, runner


def outcome(
    stack: AirflowStack, capsys, dag_id: str, run_id: str, worker: str, killed_at: float
) -> dict[str, Any]:
    """What try 1 had pushed when it was killed, where try 2 started, on which worker, how soon."""
    found = records(stack, dag_id)
    try1 = [r for r in found if r["try"] == 1]
    last_pushed = max(r["checkpoint"] for r in try1 if r["event"] == "pushed")
    # A push in flight when the process died may have reached the API server: that one is not lost.
    last_attempted = max(r["checkpoint"] for r in try1 if r["event"] == "pushing")
    try2_start = next(r for r in found if r["try"] == 2 and r["event"] == "start")
    tries = stack.tries(dag_id, run_id, TASK)
    result = {
        "dag": dag_id,
        "tries": [t["try_number"] for t in tries],
        "hostnames": [t["hostname"] for t in tries],
        "killed_on": worker,
        "try1_last_pushed": last_pushed,
        "try1_last_attempted": last_attempted,
        "try2_found": try2_start["checkpoint"],
        "checkpoints_lost": max(0, last_pushed - (try2_start["checkpoint"] or 0)),
        "kill_to_try1_ended_s": round(timestamp(tries[0]["end_date"]) - killed_at, 1)
        if tries[0]["end_date"]
        else None,
        "kill_to_try2_started_s": round(try2_start["time"] - killed_at, 1),
        "final_checkpoint": stack.xcom(dag_id, run_id, TASK, "checkpoint"),
        "heartbeat_timeouts": sum(
            1
            for entry in stack.get("/api/v2/eventLogs", dag_id=dag_id, run_id=run_id, limit=100)["event_logs"]
            if entry["event"] == "heartbeat timeout"
        ),
    }
    with capsys.disabled():  # on the terminal, captured output or not
        print(f"\n{dag_id} (measured): {json.dumps(result)}")
    assert result["tries"] == [1, 2], result
    assert result["hostnames"][0] == worker, result
    assert result["final_checkpoint"] == STEPS, result
    return result


def assert_checkpoint_kept(result: dict[str, Any]) -> None:
    # Try 2 started where try 1 stopped (or one further, if the push in flight at the kill landed).
    assert result["try2_found"] in (result["try1_last_pushed"], result["try1_last_attempted"]), result
    assert result["checkpoints_lost"] == 0, result


@pytest.mark.parametrize(
    "dag_id", ["celery_worker_killed_flagged", "celery_worker_killed_unflagged"], ids=["flagged", "unflagged"]
)
def test_retry_on_the_other_worker(stack, workers, dag_id, capsys):
    """The whole worker dies: the heartbeat timeout fails the task instance, the other worker retries it."""
    run_id, victim, runner = checkpointed_run(stack, workers, dag_id)
    killed_at = time.time()
    killed_below = stack.kill(victim, descendants=True)
    # From 3.3 the task process has a group of its own, killed below the worker's; before, it dies with it.
    assert (runner in killed_below) is TASK_PROCESS_GROUPS, (runner, killed_below)
    # Not started again before the run ends: the retry must find only the other worker.
    stack.wait_for_run(dag_id, run_id, timeout=240)
    result = outcome(stack, capsys, dag_id, run_id, victim, killed_at)
    # Try 2 ran on the other worker.
    assert result["hostnames"] == [victim, next(name for name in workers if name != victim)], result
    # Nothing reported the dead worker's failure: the scheduler's heartbeat timeout did.
    assert result["heartbeat_timeouts"] == 1, result
    if dag_id.endswith("_flagged"):
        assert_checkpoint_kept(result)
    else:
        # Vanilla 3.3.2: the retry cleared the checkpoint, try 2 started over.
        assert result["try2_found"] is None, result
        assert result["checkpoints_lost"] == result["try1_last_pushed"], result


def test_executor_reported_failure(stack, workers, capsys):
    """Only the worker's pool process (the supervisor) and the task process die; Celery reports it.

    The worker's main process survives: Celery marks the task failed (``WorkerLostError``) in the
    result backend and starts a new pool process; the CeleryExecutor reports the failure to the
    scheduler, which fails the task instance for a retry before any heartbeat timeout: the
    contract's "executor-reported failure". The retry may run on either worker.
    """
    dag_id = "celery_pool_process_killed"
    run_id, worker, runner = checkpointed_run(stack, workers, dag_id)
    # The task process's parent is the worker's pool process, which runs the supervisor (and from 3.3
    # is retitled "airflow supervisor: <task instance>"), a child of the worker's main process.
    supervisor = parent_pid(runner)
    assert parent_pid(supervisor) == stack.processes[worker].pid, (supervisor, command_line(supervisor))
    title = "airflow supervisor" if TASK_PROCESS_GROUPS else "[celeryd: "
    assert command_line(supervisor).startswith(title), command_line(supervisor)
    killed_at = time.time()
    for pid in (runner, supervisor):
        os.kill(pid, signal.SIGKILL)
    stack.wait_for_run(dag_id, run_id, timeout=240)
    result = outcome(stack, capsys, dag_id, run_id, worker, killed_at)
    assert result["heartbeat_timeouts"] == 0, result
    assert_checkpoint_kept(result)
