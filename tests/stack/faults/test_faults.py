"""
Checkpoints survive processes that die: a killed worker, a killed task process, a killed scheduler.

Each test triggers runs of checkpointing tasks (dags/faults_checkpoint.py), waits until try 1 of each
has pushed ``KILL_AFTER`` checkpoints, kills processes with SIGKILL, and waits for the run to
succeed. Then it compares the last checkpoint try 1 pushed (the task's own record, written after
the push returned) with the checkpoint try 2 found when it started: a flagged task loses none, an
unflagged one (vanilla) starts over. The measurements are printed to the terminal, not asserted.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from typing import Any

from processes import command_line, parent_pid
from stack import AirflowStack
from stack_config import LOCAL_EXECUTOR_REPORTS_DEAD_WORKERS, TASK_PROCESS_GROUPS

KILL_AFTER = 3  # checkpoints try 1 pushes before the kill
STEPS = 40  # dags/faults_checkpoint.py


def records(stack: AirflowStack, dag_id: str, task_id: str) -> list[dict[str, Any]]:
    """What the task's tries recorded (dags/faults_checkpoint.py), in order."""
    path = stack.state_dir / f"{dag_id}.{task_id}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def pushed(stack: AirflowStack, dag_id: str, task_id: str, try_number: int) -> list[dict[str, Any]]:
    return [r for r in records(stack, dag_id, task_id) if r["event"] == "pushed" and r["try"] == try_number]


def timestamp(text: str | None) -> float | None:
    return datetime.datetime.fromisoformat(text).timestamp() if text else None


def outcome(stack: AirflowStack, dag_id: str, run_id: str, task_id: str, killed_at: float) -> dict[str, Any]:
    """What try 1 had pushed when it was killed, where try 2 started, and how long that took."""
    found = records(stack, dag_id, task_id)
    try1 = [r for r in found if r["try"] == 1]
    last_pushed = max((r["checkpoint"] for r in try1 if r["event"] == "pushed"), default=None)
    # A push in flight when the process died may have reached the API server: that one is not lost.
    last_attempted = max((r["checkpoint"] for r in try1 if r["event"] == "pushing"), default=None)
    try2_start = next(r for r in found if r["try"] == 2 and r["event"] == "start")
    tries = stack.tries(dag_id, run_id, task_id)
    resumed = try2_start["checkpoint"] or 0
    return {
        "task": f"{dag_id}.{task_id}",
        "tries": [t["try_number"] for t in tries],
        "try1_state": tries[0]["state"],
        "try1_last_pushed": last_pushed,
        "try1_last_attempted": last_attempted,
        "try2_found": try2_start["checkpoint"],
        "checkpoints_lost": max(0, (last_pushed or 0) - resumed),
        "kill_to_try1_ended_s": round(timestamp(tries[0]["end_date"]) - killed_at, 1)
        if tries[0]["end_date"]
        else None,
        "kill_to_try2_started_s": round(try2_start["time"] - killed_at, 1),
        "final_checkpoint": stack.xcom(dag_id, run_id, task_id, "checkpoint"),
    }


def report(capsys, what: str, results: list[dict[str, Any]]) -> None:
    """Print the measurements to the terminal, captured output or not."""
    with capsys.disabled():
        print(f"\n{what}:")
        for result in results:
            print("  " + json.dumps(result))


def heartbeat_timeouts(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> int:
    """Audit-log rows the scheduler wrote when it failed the task instance for lack of heartbeats."""
    logs = stack.get("/api/v2/eventLogs", dag_id=dag_id, task_id=task_id, run_id=run_id, limit=100)
    return sum(1 for entry in logs["event_logs"] if entry["event"] == "heartbeat timeout")


def test_killed_worker_and_task_process(stack, capsys):
    """(a) SIGKILL the worker after a few checkpoints: the heartbeat timeout fails it, the retry resumes.

    "The worker process died" is the LocalExecutor worker, which is the task's supervisor (it runs
    ``supervise()`` itself), killed with its task process: nothing is left to report the failure or
    to heartbeat, as when a worker is OOM-killed or its host dies, and it is the scheduler's
    heartbeat timeout that fails the task instance. (Killing the supervisor alone would leave the
    task process running, orphaned, until its next call to the dead supervisor.) Killing only the
    task process is the other case, ``faults_task_process_killed``: the surviving supervisor sees
    exit -9 and reports the failure itself, with no heartbeat timeout.
    """
    conf = {"record_dir": str(stack.state_dir)}
    runs = {
        "faults_worker_killed": stack.trigger("faults_worker_killed", conf=conf),
        "faults_task_process_killed": stack.trigger("faults_task_process_killed", conf=conf),
    }
    targets = [
        ("faults_worker_killed", "flagged", "worker"),
        ("faults_worker_killed", "unflagged", "worker"),
        ("faults_task_process_killed", "flagged", "task process"),
    ]
    killed: dict[tuple[str, str, str], dict[str, Any]] = {}

    def kill_when_checkpointed() -> bool:
        for target in targets:
            dag_id, task_id, how = target
            if target in killed or len(done := pushed(stack, dag_id, task_id, 1)) < KILL_AFTER:
                continue
            runner = done[-1]["pid"]
            supervisor = parent_pid(runner)
            live = stack.task_pids()
            # The pids are this deployment's: the task runner and its supervisor, a LocalExecutor
            # worker of the scheduler (so no other developer's process is ever hit).
            assert runner in live and supervisor in live, (runner, supervisor, live)
            assert "LocalExecutor" in command_line(supervisor), command_line(supervisor)
            victims = [runner, supervisor] if how == "worker" else [runner]
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            killed[target] = {"time": time.time(), "pids": victims}
        return len(killed) == len(targets)

    stack.wait_until(kill_when_checkpointed, 180, f"{KILL_AFTER} checkpoints of each task", interval=0.2)
    for dag_id, run_id in runs.items():
        stack.wait_for_run(dag_id, run_id, timeout=240)

    results = [
        outcome(stack, dag_id, runs[dag_id], task_id, killed[(dag_id, task_id, how)]["time"])
        for dag_id, task_id, how in targets
    ]
    report(capsys, "killed worker / task process (measured)", results)
    worker_flagged, worker_unflagged, task_flagged = results
    for result in results:
        assert result["tries"] == [1, 2], result
        assert result["try1_last_pushed"] >= KILL_AFTER, result
        assert result["final_checkpoint"] == STEPS, result
    # Flagged: try 2 starts where try 1 stopped (or one further, if the push in flight at the kill
    # landed), whichever process died.
    for result in (worker_flagged, task_flagged):
        assert result["try2_found"] in (result["try1_last_pushed"], result["try1_last_attempted"]), result
        assert result["checkpoints_lost"] == 0, result
    # Unflagged (vanilla 3.3.2): the retry cleared the checkpoint, try 2 started over.
    assert worker_unflagged["try2_found"] is None, worker_unflagged
    assert worker_unflagged["checkpoints_lost"] == worker_unflagged["try1_last_pushed"], worker_unflagged
    # The dead workers' task instances were failed by the heartbeat timeout (3.3); from 3.4 the
    # LocalExecutor notices its dead worker process and reports the failure itself, before any
    # heartbeat times out (an executor-reported failure). The task process's was failed by its
    # supervisor, with no heartbeat timeout.
    timed_out = 0 if LOCAL_EXECUTOR_REPORTS_DEAD_WORKERS else 1
    assert (
        heartbeat_timeouts(stack, "faults_worker_killed", runs["faults_worker_killed"], "flagged")
        == timed_out
    )
    assert (
        heartbeat_timeouts(stack, "faults_worker_killed", runs["faults_worker_killed"], "unflagged")
        == timed_out
    )
    run_t = runs["faults_task_process_killed"]
    assert heartbeat_timeouts(stack, "faults_task_process_killed", run_t, "flagged") == 0


def test_killed_scheduler(stack, capsys):
    """(b) SIGKILL the scheduler mid-run; a new scheduler resets its orphans, the retry resumes.

    ``stack.kill("scheduler", descendants=True)`` kills the scheduler's process group (the
    scheduler, its LocalExecutor workers, which are the supervisors) and the task processes, which
    Airflow 3.3 puts in process groups of their own (before 3.3 they are in the scheduler's): a
    crash of the scheduler's host. The new
    scheduler's heartbeat-timeout check ignores task instances queued by another scheduler job; it
    resets them as orphans once the dead job's heartbeat is older than
    ``scheduler_health_check_threshold`` (15s here), and they run again as try 2.
    """
    dag_id = "faults_scheduler_killed"
    run_id = stack.trigger(dag_id, conf={"record_dir": str(stack.state_dir)})
    stack.wait_until(
        lambda: all(len(pushed(stack, dag_id, t, 1)) >= KILL_AFTER for t in ("flagged", "unflagged")),
        180,
        f"{KILL_AFTER} checkpoints of each task",
        interval=0.2,
    )
    runners = {pushed(stack, dag_id, t, 1)[-1]["pid"] for t in ("flagged", "unflagged")}
    assert runners <= set(stack.task_pids()), (runners, stack.task_pids())
    killed_at = time.time()
    killed_below = stack.kill("scheduler", descendants=True)
    # From 3.3 the runners have groups of their own and are killed below the scheduler's group;
    # before 3.3 they are in that group and die with it.
    assert (runners <= set(killed_below)) is TASK_PROCESS_GROUPS, (runners, killed_below)
    restarted_at = datetime.datetime.now(datetime.timezone.utc)
    stack.start_component("scheduler")
    # /monitor/health calls the scheduler healthy while the dead one's last heartbeat is recent
    # enough: wait for a heartbeat newer than the restart, which only the new scheduler can make.
    stack.wait_until(
        lambda: (
            (beat := stack.health()["scheduler"]["latest_scheduler_heartbeat"])
            and datetime.datetime.fromisoformat(beat) > restarted_at
        ),
        180,
        "the new scheduler's first heartbeat",
    )
    healthy_at = time.time()
    stack.wait_for_run(dag_id, run_id, timeout=240)

    results = [outcome(stack, dag_id, run_id, task_id, killed_at) for task_id in ("flagged", "unflagged")]
    report(
        capsys,
        f"killed scheduler (measured; the new one heartbeating {healthy_at - killed_at:.1f}s after the kill)",
        results,
    )
    flagged, unflagged = results
    for result in results:
        assert result["tries"] == [1, 2], result
        assert result["try1_last_pushed"] >= KILL_AFTER, result
        assert result["final_checkpoint"] == STEPS, result
    assert flagged["try2_found"] in (flagged["try1_last_pushed"], flagged["try1_last_attempted"]), flagged
    assert flagged["checkpoints_lost"] == 0, flagged
    assert unflagged["try2_found"] is None, unflagged
    # Reset as orphans by the new scheduler, not failed by a heartbeat timeout.
    assert heartbeat_timeouts(stack, dag_id, run_id, "flagged") == 0
