"""From raw results to summaries and the HEADLINE: warm-ups not counted, ratios only where resolved."""

from __future__ import annotations

import copy

import pytest

from patched_airflow.bench.stats import summarize
from patched_airflow.bench.summary import headline, summarize_results


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


def raw_results(rounds=((100.0, 101.0), (98.0, 100.0)), recovery_repeats=2, warmup=True):
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
            "warmup": [stack_run("vanilla", "warmup", 40.0), stack_run("patched", "warmup", 80.0)]
            if warmup
            else [],
            "concurrent": False,
        },
        "recovery": {"records": 1000, "every": 100, "repeats": repeats},
    }


def test_throughput_counts_the_rounds_and_not_the_warm_up():
    tp = summarize_results(raw_results())["throughput"]
    assert tp["mean"] == {"vanilla": 99.0, "patched": 100.5}
    assert tp["round_ratios"] == pytest.approx([1.01, 100 / 98])
    assert tp["warmup"] == {
        "vanilla": {"tasks": 20, "tasks_per_minute": 40.0},
        "patched": {"tasks": 20, "tasks_per_minute": 80.0},
    }


def test_results_from_before_the_warm_up_still_summarize():
    results = raw_results()
    del results["stack"]["warmup"]
    assert summarize_results(results)["throughput"]["warmup"] == {}


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


def test_checkpoint_ratio_per_deployment():
    assert summarize_results(raw_results())["checkpoint"]["patched"]["run_ratios"] == [1.0, 1.0]


def test_headline_prints_resolved_ratios_with_their_range():
    line = headline(summarize_results(raw_results()), "full")
    assert line.startswith("HEADLINE ti_run statements unflagged 6 (vanilla 6), flagged +0")
    assert "ti_run p50 patched/vanilla 1.02 (1.02..1.02 over 2)" in line
    assert "throughput patched/vanilla 1.02 (1.01..1.02 over 2)" in line
    assert "retry at 50% flagged/unflagged 0.26 (0.25..0.26 over 2)" in line
    assert "1000-task serialization identical, flag +3.6%" in line
    assert "not resolved" not in line


def test_headline_of_one_round_prints_the_two_values():
    # The quick run's case: one round (both deployments at once) measures no noise at all.
    summary = summarize_results(raw_results(rounds=((100.0, 64.0),), recovery_repeats=1))
    line = headline(summary, "quick")
    assert "throughput patched/vanilla: patched 64.0 tasks/min, vanilla 100.0 tasks/min" in line
    assert "not resolved in a quick run (measured once)" in line
    assert "0.64" not in line
    assert "retry at 50% flagged/unflagged: flagged 2.5 s, unflagged 10.0 s, not resolved" in line


def test_headline_of_rounds_that_disagree_around_one():
    # A full run here: rounds from 0.997 to 1.26 (a cold first deployment).
    summary = summarize_results(raw_results(rounds=((100.0, 126.0), (100.0, 99.7))))
    assert (
        "throughput patched/vanilla: patched 112.8 tasks/min, vanilla 100.0 tasks/min, not resolved in a full run (1.00..1.26 over 2)"
        in headline(summary)
    )


def test_headline_without_checkpoint_calls():
    results = raw_results()
    for run in results["stack"]["runs"]:
        del run["checkpoint_ns"]
    assert "xcom_push" not in headline(summarize_results(results))


def test_summaries_leave_the_results_alone():
    results = raw_results()
    before = copy.deepcopy(results)
    summarize_results(results)
    assert results == before
