"""
Scheduler throughput and checkpoint cost through a real deployment (``tests/stack/stack.py``).

``python stack_run.py '{"home": DIR, "database_url": URL, "tasks": 500, "parallelism": 4,
"checkpoint_calls": 1000, "repo": REPO}'`` starts an api-server, a scheduler with the
LocalExecutor and a dag-processor from this virtualenv on ``database_url``, then:

1. triggers ``bench_throughput`` (``tasks`` independent ``@task`` tasks that return at once) and
   waits for the run; its throughput is ``tasks`` over the time from the run's start to its end;
2. triggers ``bench_checkpoint_cost``, one task timing ``checkpoint_calls`` ``xcom_push`` and as
   many ``task_state_store.set`` calls of the same value, through the api-server over HTTP.

Prints one JSON line. The triggerer is not started: nothing defers.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from protocol import airflow_version, arguments, emit, private_stdout  # noqa: E402

THROUGHPUT_DAG = """
from __future__ import annotations

import datetime

from airflow.sdk import DAG, task

with DAG(
    "bench_throughput",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks={tasks},
):
    for i in range({tasks}):
        task(task_id=f"short_{{i}}")(lambda: None)()
"""


def _ts(value: str | None) -> float | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def windows(ends: list[float], parts: int = 5) -> list[float]:
    size = max(2, len(ends) // parts)
    rates = []
    for first in range(0, len(ends) - size + 1, size):
        since = ends[first - 1] if first else ends[0]
        done = size if first else size - 1
        if (span := ends[first + size - 1] - since) > 0:
            rates.append(60 * done / span)
    return rates


def main() -> int:
    args = arguments()
    channel = private_stdout()
    sys.path.insert(0, str(Path(args["repo"]) / "tests" / "stack"))
    import stack as harness

    home = Path(args["home"])
    dags = Path(__file__).parent / "dags"
    # The database is a copy of one already migrated: skip ``airflow db migrate`` (seconds each).
    deployment = harness.AirflowStack(
        home,
        dags=[dags],
        venv=Path(sys.prefix),
        database_url=args["database_url"],
        parallelism=args["parallelism"],
        components=("api-server", "scheduler", "dag-processor"),
        # Its own port for the scheduler's log server: the quick run has two deployments at once.
        config={"logging": {"worker_log_server_port": harness.free_port()}},
    )
    deployment.migrate = lambda: None
    # Before the start, so that the dag-processor's first pass parses both Dag files.
    deployment.add_dag_file("bench_throughput.py", THROUGHPUT_DAG.format(tasks=args["tasks"]))
    try:
        deployment.start()
        deployment.wait_for_dags(["bench_throughput", "bench_checkpoint_cost"], timeout=300)
        cpu_before = deployment.cpu_seconds()
        began = time.monotonic()
        run_id = deployment.trigger("bench_throughput")
        run = deployment.wait_for_run("bench_throughput", run_id, timeout=args.get("timeout", 1500))
        wall = time.monotonic() - began
        cpu_after = deployment.cpu_seconds()
        tis = deployment.task_instances("bench_throughput", run_id)
        starts = [_ts(ti["start_date"]) for ti in tis if ti["start_date"]]
        ends = [_ts(ti["end_date"]) for ti in tis if ti["end_date"]]
        run_seconds = _ts(run["end_date"]) - _ts(run["start_date"])
        result = {
            "versions": airflow_version(),
            "backend": deployment.backend,
            "tasks": len(tis),
            "succeeded": sum(ti["state"] == "success" for ti in tis),
            "run_seconds": run_seconds,
            "ti_span_seconds": max(ends) - min(starts),
            "wall_seconds": wall,
            "tasks_per_minute": 60 * len(tis) / run_seconds,
            # Spread within the run: tasks per minute over each successive fifth of the tasks to end.
            "window_tasks_per_minute": windows(sorted(ends)),
            "cpu_seconds": {k: cpu_after.get(k, 0) - cpu_before.get(k, 0) for k in cpu_after},
        }
        if calls := args.get("checkpoint_calls"):
            out = home / "checkpoint-cost.json"
            run_id = deployment.trigger("bench_checkpoint_cost", conf={"calls": calls, "out": str(out)})
            deployment.wait_for_run("bench_checkpoint_cost", run_id, timeout=900)
            result["checkpoint_ns"] = json.loads(out.read_text())
    finally:
        deployment.stop()
    emit(channel, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
