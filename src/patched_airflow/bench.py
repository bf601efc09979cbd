"""
``./bench.sh``: vanilla apache-airflow 3.3.2 against the patched build, side by side, in one run.

The driver runs in the tool's environment and measures nothing itself: each measurement is a
script in ``bench_probes/`` run with the python of the line's ``build/<line>/venv-vanilla`` or ``build/<line>/venv``, which
prints JSON. Runs of the two installations alternate (ABAB, the first of each pair swapping every
round), each on a fresh copy of one metadata database migrated once (the series has no schema
change): PostgreSQL on 127.0.0.1:5432 when it answers, else SQLite. Everything is written to
``build/bench/``; a full run also writes the results section of ``docs/benchmarks.md`` and
``docs/benchmarks-recovery.png``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from patched_airflow.backends import LOCAL_POSTGRES, _postgres_answers
from patched_airflow.benchstats import ratio, spread, summarize, table
from patched_airflow.testrun import TEST_REQUIREMENTS

# The test requirements (the stack harness and psycopg2 come with them) and the plot's matplotlib.
BENCH_REQUIREMENTS = [*TEST_REQUIREMENTS, "matplotlib"]
PROBES = Path(__file__).parent / "bench_probes"
VARIANTS = ("vanilla", "patched")
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Profile:
    name: str
    ti_run_calls: int  # per case and installation, in ti_run_blocks blocks
    ti_run_blocks: int
    serialization_tasks: int
    serialization_rounds: int
    throughput_tasks: int
    throughput_rounds: int
    parallelism: int
    checkpoint_calls: int
    recovery_records: int
    recovery_every: int
    recovery_hash_rounds: int  # sha256 rounds per record: the fixed cost of a record
    recovery_repeats: int
    recovery_points: tuple[float, ...] = (0.1, 0.5, 0.9, 0.99)

    ti_run_warmup: int = 10  # calls per case before measuring
    concurrent_serialization: bool = False  # bytes and hashes do not depend on timing; to_dict's does
    # Serialize while the template database is migrated and the ti_run probes set up (not measured).
    overlap_setup: bool = False
    # The two installations' deployments of a round at the same time, sharing the machine.
    concurrent_deployments: bool = False


# Two rounds of deployments (ABBA) and three of recovery: about 30 minutes on a quiet 2-core machine.
FULL = Profile("full", 1000, 4, 1000, 1, 500, 2, 4, 1000, 1_000_000, 10_000, 4, 3)
QUICK = Profile(
    "quick",
    100,
    2,
    1000,
    1,
    20,
    1,
    4,
    50,
    500_000,
    5_000,
    1,
    1,
    (0.5, 0.99),
    5,
    concurrent_serialization=True,
    overlap_setup=True,
    concurrent_deployments=True,
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%X')}] {message}", flush=True)


# -- databases -----------------------------------------------------------------------------------


class Databases:
    """One migrated template database, and fresh copies of it for each measurement."""

    def __init__(self, repo: Path, work: Path, backend: str):
        self.backend = backend
        self.work = work
        checkout = hashlib.sha1(str(repo).encode()).hexdigest()[:8]
        self.prefix = f"patched_airflow_{checkout}_bench"
        self.created: list[str] = []

    @classmethod
    def choose(cls, repo: Path, work: Path, wanted: str) -> Databases:
        if wanted == "auto":
            wanted = "postgres" if _postgres_answers() else "sqlite"
        return cls(repo, work, wanted)

    def _psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            ["psql", "-qtA", LOCAL_POSTGRES.format(database=database).replace("+psycopg2", ""), "-c", sql],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.work / 'db' / name}.db"
        return LOCAL_POSTGRES.format(database=f"{self.prefix}_{name}")

    def server_version(self) -> str:
        if self.backend == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        return "PostgreSQL " + self._psql("SHOW server_version")

    def create_template(self, venv: Path, env: dict[str, str]) -> None:
        """``airflow db migrate`` (vanilla's) into the template database."""
        if self.backend == "sqlite":
            (self.work / "db").mkdir(parents=True, exist_ok=True)
            Path(self.url("template").split("///", 1)[1]).unlink(missing_ok=True)
        else:
            self._drop(f"{self.prefix}_template")
            self._psql(f'CREATE DATABASE "{self.prefix}_template"')
            self.created.append(f"{self.prefix}_template")
        home = self.work / "home-migrate"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.work / "logs" / "migrate.log", "w") as out:
            subprocess.run(
                [str(venv / "bin" / "airflow"), "db", "migrate"],
                env={
                    **env,
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.url("template"),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def fresh(self, name: str) -> str:
        """A new database holding the template's schema; its URL."""
        if self.backend == "sqlite":
            shutil.copyfile(self.url("template").split("///", 1)[1], self.url(name).split("///", 1)[1])
            return self.url(name)
        database = f"{self.prefix}_{name}"
        self._drop(database)
        self._psql(f'CREATE DATABASE "{database}" TEMPLATE "{self.prefix}_template"')
        self.created.append(database)
        return self.url(name)

    def _drop(self, database: str) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def drop_all(self) -> None:
        if self.backend == "sqlite":
            shutil.rmtree(self.work / "db", ignore_errors=True)
            return
        for database in reversed(self.created):
            try:
                self._drop(database)
            except RuntimeError as e:
                print(f"warning: {e}", file=sys.stderr)
        self.created.clear()


# -- running probes ------------------------------------------------------------------------------


class Runner:
    def __init__(self, repo: Path, venvs: dict[str, Path], work: Path, databases: Databases):
        self.repo = repo
        self.venvs = venvs
        self.work = work
        self.databases = databases
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AIRFLOW") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        self.env.update(
            {
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._count = 0
        self._lock = threading.Lock()

    def probe_env(self, name: str, database: str | None) -> tuple[dict[str, str], Path]:
        self._count += 1
        home = self.work / "homes" / f"{self._count:02d}-{name}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        env = {**self.env, "AIRFLOW_HOME": str(home)}
        if database is not None:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.databases.fresh(database)
        return env, home

    def command(self, variant: str, probe: str, args: dict[str, Any]) -> list[str]:
        return [str(self.venvs[variant] / "bin" / "python"), str(PROBES / probe), json.dumps(args)]

    def run(
        self,
        variant: str,
        probe: str,
        args: dict[str, Any],
        database: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        name = f"{probe.removesuffix('.py')}-{variant}"
        with self._lock:
            env, home = self.probe_env(name, database)
        env.update(extra_env or {})
        args = {**args, "home": str(home)}
        with open(self.work / "logs" / f"{home.name}.log", "w") as err:
            result = subprocess.run(
                self.command(variant, probe, args), env=env, stdout=subprocess.PIPE, stderr=err, text=True
            )
        if result.returncode != 0:
            raise RuntimeError(f"{probe} ({variant}) exited {result.returncode}; see {err.name}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, variant: str, probe: str, args: dict[str, Any], database: str) -> Session:
        name = f"{probe.removesuffix('.py')}-{variant}"
        with self._lock:
            env, home = self.probe_env(name, database)
        err = open(self.work / "logs" / f"{home.name}.log", "w")  # closed by Session.close
        process = subprocess.Popen(
            self.command(variant, probe, args),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        return Session(process, err)


class Session:
    """A probe that answers one JSON line per command line (``ti_run.py``)."""

    def __init__(self, process: subprocess.Popen, err):
        self.process = process
        self.err = err

    def read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"probe exited {self.process.returncode}; see {self.err.name}")
        return json.loads(line)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.err.close()


def interleaved(rounds: int) -> list[tuple[str, str]]:
    """ABAB with the first of each pair swapping: vanilla, patched, patched, vanilla, ..."""
    return [VARIANTS if i % 2 == 0 else VARIANTS[::-1] for i in range(rounds)]


# -- the measurements ----------------------------------------------------------------------------


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
    def deployment(variant: str, round_number: int) -> dict[str, Any]:
        args = {
            "repo": str(runner.repo),
            "tasks": profile.throughput_tasks,
            "parallelism": profile.parallelism,
            "checkpoint_calls": profile.checkpoint_calls,
        }
        database = f"stack_{variant}_{round_number}"
        args["database_url"] = runner.databases.url(database)
        result = runner.run(variant, "stack_run.py", args, database)
        log(
            f"  {variant}: {result['tasks']} tasks in {result['run_seconds']:.1f}s, "
            f"{result['tasks_per_minute']:.1f} tasks/min"
        )
        return {"variant": variant, "round": round_number, **result}

    runs = []
    for round_number, order in enumerate(interleaved(profile.throughput_rounds)):
        if profile.concurrent_deployments:
            both = [Background(functools.partial(deployment, v, round_number)) for v in order]
            for job in both:
                job.start()
            runs += [job.join() for job in both]
        else:
            runs += [deployment(variant, round_number) for variant in order]
    return {"runs": runs, "concurrent": profile.concurrent_deployments}


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


# -- summaries -----------------------------------------------------------------------------------


def summarize_results(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers the tables and the headline show, from the raw results."""
    summary: dict[str, Any] = {}
    ti = {(row["variant"], row["case"]): row for row in results["ti_run"]["rows"]}
    ti_rows = []
    for (variant, case), row in ti.items():
        attempt = case.split("-")[1]
        base = ti[("vanilla", f"unflagged-{attempt}")]
        block_ratios = [ratio(a, b) for a, b in zip(row["block_p50_ms"], base["block_p50_ms"], strict=False)]
        ti_rows.append(
            {
                "variant": variant,
                "case": case,
                "statements": row["statements"],
                "extra_statements": max(row["statements"]) - max(base["statements"]),
                **{k: row["latency_ms"][k] for k in ("n", "p50", "p95", "p99", "mean")},
                "p50_ratio": ratio(row["latency_ms"]["p50"], base["latency_ms"]["p50"]),
                "p95_ratio": ratio(row["latency_ms"]["p95"], base["latency_ms"]["p95"]),
                # Time in the database driver (results before this column lack it).
                "database_p50": row.get("database_ms", {}).get("p50", float("nan")),
                "database_p50_ratio": ratio(
                    row.get("database_ms", {}).get("p50", float("nan")),
                    base.get("database_ms", {}).get("p50", float("nan")),
                ),
                "block_p50_ratios": block_ratios,
                "is_automatic_restart": row["context"].get("is_automatic_restart"),
            }
        )
    summary["ti_run"] = ti_rows

    ser = results["serialization"]["runs"]
    by_variant: dict[str, list[dict]] = {}
    for run in ser:
        by_variant.setdefault(run["variant"], []).append(run)
    plain = {v: by_variant[v][0] for v in VARIANTS}
    flagged = by_variant["patched-flagged"][0]
    summary["serialization"] = {
        "identical": len({(r["bytes"], r["sha256"], r["dag_hash"]) for v in VARIANTS for r in by_variant[v]})
        == 1,
        "rows": [
            {
                "variant": v,
                "tasks": runs[0]["tasks"],
                "bytes": runs[0]["bytes"],
                "sha256": runs[0]["sha256"],
                "dag_hash": runs[0]["dag_hash"],
                "mentions_flag": runs[0]["mentions_flag"],
                "to_dict_s": statistics.median(s for r in runs for s in r["to_dict_seconds"]),
            }
            for v, runs in by_variant.items()
        ],
        "flag_bytes": flagged["bytes"] - plain["patched"]["bytes"],
        "flag_bytes_per_task": (flagged["bytes"] - plain["patched"]["bytes"]) / flagged["tasks"],
        "flag_percent": 100 * (flagged["bytes"] - plain["patched"]["bytes"]) / plain["patched"]["bytes"],
    }

    stack = results["stack"]["runs"]
    tpm = {v: [r["tasks_per_minute"] for r in stack if r["variant"] == v] for v in VARIANTS}
    rounds = sorted({r["round"] for r in stack})
    per_round = [
        ratio(
            next(r["tasks_per_minute"] for r in stack if r["variant"] == "patched" and r["round"] == n),
            next(r["tasks_per_minute"] for r in stack if r["variant"] == "vanilla" and r["round"] == n),
        )
        for n in rounds
    ]
    summary["throughput"] = {
        "backend": stack[0]["backend"],
        "concurrent": results["stack"].get("concurrent", False),
        "tasks": stack[0]["tasks"],
        "all_succeeded": all(r["succeeded"] == r["tasks"] for r in stack),
        "tasks_per_minute": {v: tpm[v] for v in VARIANTS},
        "mean": {v: statistics.fmean(tpm[v]) for v in VARIANTS},
        "ratio": ratio(statistics.fmean(tpm["patched"]), statistics.fmean(tpm["vanilla"])),
        "round_ratios": per_round,
        # Tasks per minute over each fifth of a run (runs of older results lack it).
        "window_tasks_per_minute": {
            v: [x for r in stack if r["variant"] == v for x in r.get("window_tasks_per_minute", [])]
            for v in VARIANTS
        },
        "scheduler_cpu_s": {
            v: statistics.fmean(r["cpu_seconds"].get("scheduler", 0) for r in stack if r["variant"] == v)
            for v in VARIANTS
        },
    }

    checkpoint: dict[str, Any] = {}
    for v in VARIANTS:
        calls = {"xcom_push": [], "task_state_store_set": []}
        for r in stack:
            if r["variant"] == v and "checkpoint_ns" in r:
                for name in calls:
                    calls[name] += [ns / 1e6 for ns in r["checkpoint_ns"][name]]
        checkpoint[v] = {name: summarize(values) for name, values in calls.items() if values}
    summary["checkpoint"] = checkpoint

    recovery = []
    records = results["recovery"].get("records", 1_000_000)  # older results: always 1,000,000
    for point in sorted({t["fail_at"] for rep in results["recovery"]["repeats"] for t in rep}):
        row: dict[str, Any] = {"fail_at": point, "fraction": point / records}
        for flag in (True, False):
            tasks = [
                t
                for rep in results["recovery"]["repeats"]
                for t in rep
                if t["fail_at"] == point and t["flagged"] == flag
            ]
            retry = [t["tries"]["2"]["end"] - t["tries"]["2"]["start"] for t in tasks]
            whole = [t["tries"]["2"]["end"] - t["tries"]["1"]["start"] for t in tasks]
            first = [t["tries"]["1"]["end"] - t["tries"]["1"]["start"] for t in tasks]
            key = "flagged" if flag else "unflagged"
            row[key] = {
                "retry_s": statistics.median(retry),
                "retry_all": retry,
                "whole_s": statistics.median(whole),
                "whole_all": whole,
                "first_try_s": statistics.median(first),
                "retry_started_at": sorted(
                    {t["tries"]["2"].get("started_at_record") for t in tasks}, key=str
                ),
            }
        row["retry_ratio"] = ratio(row["flagged"]["retry_s"], row["unflagged"]["retry_s"])
        row["whole_ratio"] = ratio(row["flagged"]["whole_s"], row["unflagged"]["whole_s"])
        recovery.append(row)
    summary["recovery"] = recovery
    summary["recovery_records"] = records
    summary["recovery_every"] = results["recovery"].get("every", 10_000)
    return summary


def headline(summary: dict[str, Any]) -> str:
    ti = {(r["variant"], r["case"]): r for r in summary["ti_run"]}
    vanilla_first = max(ti[("vanilla", "unflagged-first")]["statements"])
    patched_first = max(ti[("patched", "unflagged-first")]["statements"])
    flagged_extra = max(r["extra_statements"] for r in summary["ti_run"] if r["case"].startswith("flagged"))
    p50 = ti[("patched", "unflagged-first")]["p50_ratio"]
    half = min(summary["recovery"], key=lambda r: abs(r["fraction"] - 0.5))
    ckpt = summary["checkpoint"]["patched"]
    push_vs_set = (
        ratio(ckpt["xcom_push"]["p50"], ckpt["task_state_store_set"]["p50"]) if ckpt else float("nan")
    )
    return (
        f"HEADLINE ti_run statements unflagged {patched_first} (vanilla {vanilla_first}), flagged +{flagged_extra}"
        f" | ti_run p50 patched/vanilla {p50:.2f}"
        f" | 1000-task serialization {'identical' if summary['serialization']['identical'] else 'DIFFERENT'}"
        f", flag +{summary['serialization']['flag_percent']:.1f}%"
        f" | throughput patched/vanilla {summary['throughput']['ratio']:.2f}"
        f" | retry at {half['fraction']:.0%} flagged/unflagged {half['retry_ratio']:.2f}"
        f" | xcom_push/task_state_store.set p50 {push_vs_set:.2f}"
    )


def render(summary: dict[str, Any], meta: dict[str, Any], plot: str | None) -> str:
    """The results as Markdown: the stdout table and the results section of docs/benchmarks.md."""
    out = [f"### Run: {meta['profile']} profile, {meta['date']}", ""]
    out.append(
        table(
            ["", ""],
            [
                ["machine", meta["machine"]],
                ["load average before / after", f"{meta['load_before']} / {meta['load_after']}"],
                ["python", meta["python"]],
                ["vanilla", meta["versions"]["vanilla"]],
                ["patched", meta["versions"]["patched"]],
                ["database", meta["database"]],
                ["wall time", f"{meta['wall_seconds']:.0f}s"],
                ["commit", meta["commit"]],
            ],
        )
    )
    out += ["", "#### 1. Task start (`ti_run`)", ""]
    out.append(
        table(
            [
                "installation",
                "case",
                "SQL statements",
                "vs vanilla",
                "calls",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "p50 ratio",
                "p95 ratio",
                "per-block p50 ratios",
                "in database p50 ms",
                "in database p50 ratio",
                "is_automatic_restart",
            ],
            [
                [
                    r["variant"],
                    r["case"],
                    "/".join(map(str, r["statements"])),
                    f"{r['extra_statements']:+d}",
                    r["n"],
                    r["p50"],
                    r["p95"],
                    r["p99"],
                    r["p50_ratio"],
                    r["p95_ratio"],
                    spread(r["block_p50_ratios"]),
                    r["database_p50"],
                    r["database_p50_ratio"],
                    r["is_automatic_restart"],
                ]
                for r in sorted(
                    summary["ti_run"], key=lambda r: (r["case"].split("-")[1], r["case"], r["variant"])
                )
            ],
        )
    )
    ser = summary["serialization"]
    out += ["", "#### 2. Serialization of a 1,000-task Dag", ""]
    out.append(
        table(
            [
                "installation",
                "tasks",
                "bytes (sorted-key JSON)",
                "sha256",
                "dag hash",
                "flag in data",
                "to_dict s (median)",
            ],
            [
                [
                    r["variant"],
                    r["tasks"],
                    r["bytes"],
                    r["sha256"][:16],
                    r["dag_hash"],
                    r["mentions_flag"],
                    r["to_dict_s"],
                ]
                for r in ser["rows"]
            ],
        )
    )
    out += [
        "",
        f"Unflagged Dag identical to vanilla: **{'yes' if ser['identical'] else 'NO'}**. "
        f"Flagging every task: +{ser['flag_bytes']} bytes ({ser['flag_bytes_per_task']:.1f} per task, "
        f"+{ser['flag_percent']:.2f}%).",
    ]
    tp = summary["throughput"]
    at_once = ", the two deployments at the same time" if tp["concurrent"] else ""
    out += [
        "",
        f"#### 3. Scheduler throughput ({tp['tasks']} tasks, LocalExecutor, {tp['backend']}{at_once})",
        "",
    ]
    out.append(
        table(
            [
                "installation",
                "tasks/min per run",
                "mean tasks/min",
                "per fifth of the run",
                "scheduler CPU s (mean)",
            ],
            [
                [
                    v,
                    ", ".join(f"{x:.1f}" for x in tp["tasks_per_minute"][v]),
                    tp["mean"][v],
                    spread(tp.get("window_tasks_per_minute", {}).get(v, [])),
                    tp["scheduler_cpu_s"][v],
                ]
                for v in VARIANTS
            ],
        )
    )
    out += [
        "",
        f"patched/vanilla: **{tp['ratio']:.3f}** (per round: {spread(tp['round_ratios'])}); "
        f"every task succeeded: {tp['all_succeeded']}.",
    ]
    out += [
        "",
        f"#### 4. Recovery: {summary['recovery_records']:,} records, a checkpoint every "
        f"{summary['recovery_every']:,}, one failure",
        "",
    ]
    out.append(
        table(
            [
                "fails at",
                "retry s flagged",
                "retry s unflagged",
                "retry ratio",
                "work left",
                "whole task s flagged",
                "whole task s unflagged",
                "whole ratio",
                "retry started at (flagged / unflagged)",
            ],
            [
                [
                    f"{r['fraction']:.0%}",
                    r["flagged"]["retry_s"],
                    r["unflagged"]["retry_s"],
                    r["retry_ratio"],
                    1 - r["fraction"],
                    r["flagged"]["whole_s"],
                    r["unflagged"]["whole_s"],
                    r["whole_ratio"],
                    f"{r['flagged']['retry_started_at']} / {r['unflagged']['retry_started_at']}",
                ]
                for r in summary["recovery"]
            ],
        )
    )
    if plot:
        out += ["", f"![retry wall time against failure point]({plot})"]
    out += ["", "#### 5. Checkpoint cost through a real task run (api-server over HTTP)", ""]
    rows = []
    for v in VARIANTS:
        for name, label in (("xcom_push", "ti.xcom_push"), ("task_state_store_set", "task_state_store.set")):
            if s := summary["checkpoint"][v].get(name):
                rows.append([v, label, s["n"], s["p50"], s["p95"], s["p99"], s["mean"]])
    out.append(table(["installation", "call", "calls", "p50 ms", "p95 ms", "p99 ms", "mean ms"], rows))
    return "\n".join(out) + "\n"


def make_plot(patched: Path, work: Path, summary: dict[str, Any], target: Path) -> bool:
    data = work / "plot-data.json"
    settings = {"records": summary["recovery_records"], "every": summary["recovery_every"]}
    data.write_text(json.dumps({"recovery": summary["recovery"], "target": str(target), **settings}))
    result = subprocess.run(
        [str(patched / "bin" / "python"), str(PROBES / "plot.py"), str(data)], capture_output=True, text=True
    )
    if result.returncode != 0:
        print(f"warning: the plot failed: {result.stderr[-2000:]}", file=sys.stderr)
    return result.returncode == 0


def machine() -> str:
    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    memory = ""
    try:
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu or platform.machine()}){memory}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class Background:
    """A function run in a thread; ``join`` returns its result or raises its exception."""

    def __init__(self, function):
        self._function = function
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self._result = self._function()
        except BaseException as e:
            self._error = e

    def start(self) -> None:
        self._thread.start()

    def join(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


class LoadSampler:
    """The 1-minute load average every 10 seconds while the benchmark runs."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(10):
            try:
                self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            except OSError:
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()


def run_bench(repo: Path, venvs: dict[str, Path], profile: Profile, backend: str, write_docs: bool) -> int:
    work = repo / "build" / "bench" / profile.name
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    databases = Databases.choose(repo, work, backend)
    runner = Runner(repo, venvs, work, databases)
    started = time.monotonic()
    meta: dict[str, Any] = {
        "profile": profile.name,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "load_before": loadavg(),
        "python": platform.python_version(),
        "database": f"{databases.server_version()} ({databases.backend}; a fresh copy of one migrated database per run)",
        "commit": subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "settings": asdict(profile),
    }
    log(f"{profile.name} benchmark, {meta['database']}; logs in {work / 'logs'}")
    results: dict[str, Any] = {}
    with LoadSampler() as load:
        try:
            serialization = Background(lambda: measure_serialization(runner, profile))
            if profile.overlap_setup:
                log(f"2. serialization of a {profile.serialization_tasks}-task Dag, in the background")
                serialization.start()
            log("template database: airflow db migrate")
            databases.create_template(venvs["vanilla"], runner.env)
            if not profile.overlap_setup:
                log(f"2. serialization of a {profile.serialization_tasks}-task Dag")
                serialization.start()
                serialization.join()
            log(f"1. ti_run: {profile.ti_run_calls} calls per case and installation")
            results["ti_run"] = measure_ti_run(runner, profile, before_measuring=serialization.join)
            results["serialization"] = serialization.join()
            log(f"3+5. scheduler throughput ({profile.throughput_tasks} tasks) and checkpoint cost")
            results["stack"] = measure_stack(runner, profile)
            log("4. recovery")
            results["recovery"] = measure_recovery(runner, profile)
        finally:
            databases.drop_all()
    versions = {}
    for variant in VARIANTS:
        versions[variant] = ", ".join(
            f"{k} {v}" for k, v in results["serialization"]["runs"][0]["versions"].items()
        )
        versions[variant] = next(
            ", ".join(f"{k} {v}" for k, v in r["versions"].items())
            for r in results["serialization"]["runs"]
            if r["variant"] == variant
        )
    meta.update(
        versions=versions,
        load_after=loadavg(),
        load_samples=load.samples,
        wall_seconds=time.monotonic() - started,
    )
    (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return report(repo, venvs, work, meta, results, write_docs)


def report(
    repo: Path,
    venvs: dict[str, Path],
    work: Path,
    meta: dict[str, Any],
    results: dict[str, Any],
    write_docs: bool,
) -> int:
    """Summaries, the table, the plot, and (``write_docs``) docs/benchmarks.md, from raw results."""
    summary = summarize_results(results)
    (work / "summary.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
    docs = repo / "docs"
    plot = docs / "benchmarks-recovery.png" if write_docs else work / "recovery.png"
    plotted = make_plot(venvs["patched"], work, summary, plot)
    text = render(summary, meta, (plot.name if write_docs else str(plot)) if plotted else None)
    print()
    print(text)
    if write_docs:
        write_doc(docs / "benchmarks.md", text)
        (docs / "benchmarks-summary.json").write_text(
            json.dumps({"meta": meta, "summary": summary}, indent=1) + "\n"
        )
        print(
            f"Wrote docs/benchmarks.md (results section), {plot.relative_to(repo)}, docs/benchmarks-summary.json"
        )
    print(f"Raw results: {work / 'results.json'}; the {meta['profile']} run took {meta['wall_seconds']:.0f}s")
    print(headline(summary))
    return 0


def report_saved(repo: Path, venvs: dict[str, Path], results_file: Path, write_docs: bool) -> int:
    """Report again from a saved ``results.json`` (e.g. after changing the tables)."""
    saved = json.loads(results_file.read_text())
    return report(repo, venvs, results_file.parent, saved["meta"], saved["results"], write_docs)


def write_doc(path: Path, results: str) -> None:
    """Replace the results section of ``docs/benchmarks.md`` (between its markers) with ``results``."""
    block = f"{BEGIN}\n{results}{END}"
    if path.exists() and BEGIN in (text := path.read_text()) and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = f"# Benchmarks\n\n{block}\n"
    path.write_text(text)
