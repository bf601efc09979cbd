"""The measurements of ``./bench.sh``: each drives probes of both installations and returns raw results.

Runs of the two installations alternate (``interleaved``); the summaries and tables are made from the
raw results later (``summary``, ``render``), so a saved ``results.json`` can be reported again.
"""

from __future__ import annotations

import statistics
import threading
from typing import Any

from patched_airflow.bench.profiles import Profile
from patched_airflow.bench.runner import VARIANTS, Background, Runner, Session, interleaved, log
from patched_airflow.bench.stats import summarize


def measure_ti_run(runner: Runner, profile: Profile, before_measuring=None) -> dict[str, Any]:
    """``before_measuring`` (if given) is called once the probes are set up, before the first call."""
    sessions: dict[str, Session] = {}
    ready: dict[str, dict[str, Any]] = {}
    try:
        # Setting up (Dags, runs, the first try of the retry cases) is not measured: both at once.
        for variant in VARIANTS:
            sessions[variant] = runner.start(
                variant,
                "ti_run.py",
                {"flagged": variant == "patched", "warmup": profile.ti_run_warmup},
                database=f"ti_run_{variant}",
            )
        for variant in VARIANTS:
            ready[variant] = sessions[variant].read()
        if before_measuring is not None:
            before_measuring()
        per_block = max(1, profile.ti_run_calls // profile.ti_run_blocks)
        samples: dict[tuple[str, str], dict[str, list]] = {}
        for block, order in enumerate(interleaved(profile.ti_run_blocks)):
            for case in ready["patched"]["ready"]:
                for variant in order:
                    if case not in ready[variant]["ready"]:
                        continue
                    answer = sessions[variant].ask({"case": case, "n": per_block})
                    sample = samples.setdefault(
                        (variant, case), {"latency": [], "database": [], "statements": [], "p50s": []}
                    )
                    sample["latency"] += [ns / 1e6 for ns in answer["latency_ns"]]
                    sample["database"] += [ns / 1e6 for ns in answer["database_ns"]]
                    sample["statements"] += answer["statements"]
                    sample["p50s"].append(statistics.median(answer["latency_ns"]) / 1e6)
                    sample.setdefault("sql", answer["sql"])
            log(f"  ti_run block {block + 1}/{profile.ti_run_blocks} done")
    finally:
        for session in sessions.values():
            session.close()
    rows = []
    for (variant, case), sample in samples.items():
        rows.append(
            {
                "variant": variant,
                "case": case,
                "statements": sorted(set(sample["statements"])),
                "latency_ms": summarize(sample["latency"]),
                "database_ms": summarize(sample["database"]),
                "block_p50_ms": sample["p50s"],
                "sql": sample["sql"],
                "context": ready[variant]["context"][case],
            }
        )
    return {
        "dialect": ready["patched"]["dialect"],
        "calls_per_case": per_block * profile.ti_run_blocks,
        "rows": rows,
    }


def measure_serialization(runner: Runner, profile: Profile) -> dict[str, Any]:
    # One Dag folder for both installations: the file's path, also relative to it, is in the data.
    folder = runner.work / "serialization-dags"
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(folder)}
    jobs = []
    for order in interleaved(profile.serialization_rounds):
        jobs += [(variant, variant, False) for variant in order] + [("patched", "patched-flagged", True)]

    def run(job):
        variant, label, flagged = job
        # Paths of the same length, so that the flag's cost is the only difference in size.
        args = {
            "folder": str(folder / ("flags" if flagged else "plain")),
            "tasks": profile.serialization_tasks,
        }
        args["flagged"] = flagged
        return {"variant": label, **runner.run(variant, "serialization.py", args, None, env)}

    if not profile.concurrent_serialization:
        return {"runs": [run(job) for job in jobs]}
    results: list[dict[str, Any]] = [{}] * len(jobs)

    def worker(i):
        results[i] = run(jobs[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(not r for r in results):
        raise RuntimeError("a serialization probe failed; see the logs")
    return {"runs": results}


def measure_stack(runner: Runner, profile: Profile) -> dict[str, Any]:
    """Scheduler throughput and checkpoint cost: a warm-up deployment of each side, then the rounds."""

    def deployment(variant: str, round_name: int | str, tasks: int, checkpoint_calls: int) -> dict[str, Any]:
        # No task state store to measure xcom_push against on a release without one (3.1, 3.2).
        checkpoint_calls = checkpoint_calls if runner.release.task_state_store else 0
        args = {
            "repo": str(runner.repo),
            "tasks": tasks,
            "parallelism": profile.parallelism,
            "checkpoint_calls": checkpoint_calls,
        }
        database = f"stack_{variant}_{round_name}"
        args["database_url"] = runner.databases.url(database)
        result = runner.run(variant, "stack_run.py", args, database)
        counted = " (warm-up, not counted)" if round_name == "warmup" else ""
        log(
            f"  {variant}{counted}: {result['tasks']} tasks in {result['run_seconds']:.1f}s, "
            f"{result['tasks_per_minute']:.1f} tasks/min"
        )
        return {"variant": variant, "round": round_name, **result}

    def one_round(order, round_name: int | str, tasks: int, checkpoint_calls: int) -> list[dict[str, Any]]:
        if not profile.concurrent_deployments:
            return [deployment(v, round_name, tasks, checkpoint_calls) for v in order]
        both = [Background(lambda v=v: deployment(v, round_name, tasks, checkpoint_calls)) for v in order]
        for job in both:
            job.start()
        return [job.join() for job in both]

    warmup = []
    if profile.warmup_tasks:
        warmup = one_round(VARIANTS, "warmup", profile.warmup_tasks, profile.warmup_checkpoint_calls)
    runs = []
    for round_number, order in enumerate(interleaved(profile.throughput_rounds)):
        runs += one_round(order, round_number, profile.throughput_tasks, profile.checkpoint_calls)
    return {"runs": runs, "warmup": warmup, "concurrent": profile.concurrent_deployments}


def measure_recovery(runner: Runner, profile: Profile) -> dict[str, Any]:
    repeats = []
    for repeat in range(profile.recovery_repeats):
        order = ["flagged", "unflagged"] if repeat % 2 == 0 else ["unflagged", "flagged"]
        args = {
            "records": profile.recovery_records,
            "every": profile.recovery_every,
            "rounds": profile.recovery_hash_rounds,
            "points": list(profile.recovery_points),
            "order": order,
        }
        repeats.append(runner.run("patched", "recovery.py", args, f"recovery_{repeat}")["tasks"])
        log(f"  recovery repeat {repeat + 1}/{profile.recovery_repeats} done")
    return {"records": profile.recovery_records, "every": profile.recovery_every, "repeats": repeats}
