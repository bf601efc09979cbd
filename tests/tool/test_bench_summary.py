"""From raw results to summaries and the HEADLINE."""

from __future__ import annotations

import copy

import pytest

from patched_airflow.bench_summary import headline, summarize_results
from patched_airflow.benchstats import summarize


def ti_row(variant, case, p50s, statements=6, restart=None):
    latency = [p for p in p50s for _ in range(3)]
    return {
        "variant": variant,
        "case": case,
        "statements": [statements],
        "latency_ms": summarize(latency),
        "database_ms": summarize([p / 8 for p in latency]),
        "block_p50_ms": list(p50s),
        "sql": ["SELECT 1"] * statements,
        "context": {"is_automatic_restart": restart},
    }


def stack_run(variant, round_name, tpm, push=(10.0, 10.0), store=(10.0, 10.0)):
    return {
        "variant": variant,
        "round": round_name,
        "backend": "sqlite",
        "tasks": 20,
        "succeeded": 20,
        "tasks_per_minute": tpm,
        "window_tasks_per_minute": [tpm * 0.9, tpm * 1.1],
        "cpu_seconds": {"scheduler": 30.0},
        "checkpoint_ns": {
            "xcom_push": [p * 1e6 for p in push],
            "task_state_store_set": [s * 1e6 for s in store],
        },
    }


def task(flagged, fail_at, first, retry, started_at):
    return {
        "task_id": f"{'flagged' if flagged else 'unflagged'}_{fail_at}",
        "flagged": flagged,
        "fail_at": fail_at,
        "tries": {
            "1": {"state": "up_for_retry", "start": 0.0, "end": first, "started_at_record": 0},
            "2": {
                "state": "success",
                "start": first + 1,
                "end": first + 1 + retry,
                "started_at_record": started_at,
            },
        },
    }


def serialization_run(variant, size, digest, flagged=0):
    return {
        "variant": variant,
        "tasks": 1000,
        "bytes": size,
        "sha256": digest * 8,
        "dag_hash": digest,
        "mentions_flag": flagged,
        "to_dict_seconds": [0.25, 0.26],
        "versions": {"apache-airflow-core": "3.3.2", "apache-airflow-task-sdk": "1.3.2"},
    }


def raw_results(rounds=((100.0, 101.0), (98.0, 100.0)), recovery_repeats=2):
    """Two installations, ``rounds`` of (vanilla, patched) tasks per minute, recovery at 50%."""
    stack = []
    for n, (vanilla, patched) in enumerate(rounds):
        stack += [stack_run("vanilla", n, vanilla), stack_run("patched", n, patched)]
    repeats = []
    for i in range(recovery_repeats):
        repeats.append([task(True, 500, 5.0, 2.5 + 0.1 * i, 500), task(False, 500, 5.0, 10.0 - 0.1 * i, 0)])
    return {
        "ti_run": {
            "dialect": "sqlite",
            "calls_per_case": 6,
            "rows": [
                ti_row("vanilla", "unflagged-first", (30.0, 31.0)),
                ti_row("patched", "unflagged-first", (30.5, 31.5)),
                ti_row("patched", "flagged-first", (31.0, 31.0)),
                ti_row("vanilla", "unflagged-retry", (32.0, 32.0), restart=None),
                ti_row("patched", "unflagged-retry", (32.0, 33.0), restart=True),
                ti_row("patched", "flagged-retry", (32.0, 33.0), restart=True),
            ],
        },
        "serialization": {
            "runs": [
                serialization_run("vanilla", 1000, "aa"),
                serialization_run("patched", 1000, "aa"),
                serialization_run("patched-flagged", 1036, "bb", flagged=1000),
            ]
        },
        "stack": {
            "runs": stack,
            "concurrent": False,
        },
        "recovery": {"records": 1000, "every": 100, "repeats": repeats},
    }


def test_throughput_per_round():
    tp = summarize_results(raw_results())["throughput"]
    assert tp["mean"] == {"vanilla": 99.0, "patched": 100.5}
    assert tp["round_ratios"] == pytest.approx([1.01, 100 / 98])


def test_ti_run_ratios_are_against_vanilla_of_the_same_try():
    rows = {(r["variant"], r["case"]): r for r in summarize_results(raw_results())["ti_run"]}
    assert rows[("patched", "unflagged-first")]["block_p50_ratios"] == pytest.approx([30.5 / 30, 31.5 / 31])
    assert rows[("patched", "flagged-retry")]["extra_statements"] == 0
    assert rows[("vanilla", "unflagged-retry")]["p50_ratio"] == 1.0


def test_serialization_and_recovery():
    summary = summarize_results(raw_results())
    assert summary["serialization"]["identical"] is True
    assert summary["serialization"]["flag_bytes_per_task"] == pytest.approx(0.036)
    (row,) = summary["recovery"]
    assert row["fraction"] == 0.5
    assert row["flagged"]["retry_all"] == pytest.approx([2.5, 2.6])
    assert row["flagged"]["retry_started_at"] == [500]
    assert row["unflagged"]["retry_started_at"] == [0]


def test_headline():
    line = headline(summarize_results(raw_results()))
    assert line == (
        "HEADLINE ti_run statements unflagged 6 (vanilla 6), flagged +0 | ti_run p50 patched/vanilla 1.02"
        " | 1000-task serialization identical, flag +3.6% | throughput patched/vanilla 1.02"
        " | retry at 50% flagged/unflagged 0.26 | xcom_push/task_state_store.set p50 1.00"
    )


def test_headline_without_checkpoint_calls():
    results = raw_results()
    for run in results["stack"]["runs"]:
        del run["checkpoint_ns"]
    assert headline(summarize_results(results)).endswith("xcom_push/task_state_store.set p50 nan")


def test_summaries_leave_the_results_alone():
    results = raw_results()
    before = copy.deepcopy(results)
    summarize_results(results)
    assert results == before
