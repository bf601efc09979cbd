"""From raw results to the numbers the tables show, and the run's one-line HEADLINE (pure: no I/O)."""

from __future__ import annotations

import statistics
from typing import Any

from patched_airflow.bench.stats import ratio, resolved, summarize

VARIANTS = ("vanilla", "patched")


def summarize_results(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers the tables and the headline show, from the raw results."""
    stack = results["stack"]
    return {
        "ti_run": summarize_ti_run(results["ti_run"]),
        "serialization": summarize_serialization(results["serialization"]["runs"]),
        "throughput": summarize_throughput(
            stack["runs"], stack.get("concurrent", False), stack.get("warmup", [])
        ),
        "checkpoint": summarize_checkpoint(stack["runs"]),
        "recovery": summarize_recovery(results["recovery"]),
        "recovery_records": results["recovery"].get("records", 1_000_000),  # older results: always 1,000,000
        "recovery_every": results["recovery"].get("every", 10_000),
    }


def summarize_ti_run(ti_run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per installation and case: statements, latency percentiles, ratios to vanilla's same try."""
    ti = {(row["variant"], row["case"]): row for row in ti_run["rows"]}
    rows = []
    for (variant, case), row in ti.items():
        attempt = case.split("-")[1]
        base = ti[("vanilla", f"unflagged-{attempt}")]
        block_ratios = [ratio(a, b) for a, b in zip(row["block_p50_ms"], base["block_p50_ms"], strict=False)]
        rows.append(
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
    return rows


def summarize_serialization(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes, hashes and ``to_dict`` times; whether the unflagged Dag is identical to vanilla's."""
    by_variant: dict[str, list[dict]] = {}
    for run in runs:
        by_variant.setdefault(run["variant"], []).append(run)
    plain = {v: by_variant[v][0] for v in VARIANTS}
    flagged = by_variant["patched-flagged"][0]
    flag_bytes = flagged["bytes"] - plain["patched"]["bytes"]
    return {
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
        "flag_bytes": flag_bytes,
        "flag_bytes_per_task": flag_bytes / flagged["tasks"],
        "flag_percent": 100 * flag_bytes / plain["patched"]["bytes"],
    }


def summarize_throughput(
    stack: list[dict[str, Any]], concurrent: bool, warmup: list[dict[str, Any]]
) -> dict[str, Any]:
    """Tasks per minute of the counted rounds (the warm-up deployments are reported apart)."""
    tpm = {v: [r["tasks_per_minute"] for r in stack if r["variant"] == v] for v in VARIANTS}
    rounds = sorted({r["round"] for r in stack})
    per_round = [
        ratio(
            next(r["tasks_per_minute"] for r in stack if r["variant"] == "patched" and r["round"] == n),
            next(r["tasks_per_minute"] for r in stack if r["variant"] == "vanilla" and r["round"] == n),
        )
        for n in rounds
    ]
    return {
        "backend": stack[0]["backend"],
        "concurrent": concurrent,
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
        # Not counted; results before the warm-up have none.
        "warmup": {
            r["variant"]: {"tasks": r["tasks"], "tasks_per_minute": r["tasks_per_minute"]} for r in warmup
        },
    }


def summarize_checkpoint(stack: list[dict[str, Any]]) -> dict[str, Any]:
    """Per installation: ``xcom_push`` and ``task_state_store.set`` latencies, and their p50 ratio per run."""
    checkpoint: dict[str, Any] = {}
    names = ("xcom_push", "task_state_store_set")
    for v in VARIANTS:
        calls: dict[str, list[float]] = {name: [] for name in names}
        run_ratios = []
        for r in stack:
            if r["variant"] == v and "checkpoint_ns" in r:
                for name in names:
                    calls[name] += [ns / 1e6 for ns in r["checkpoint_ns"][name]]
                if all(r["checkpoint_ns"].get(name) for name in names):
                    run_ratios.append(ratio(*(statistics.median(r["checkpoint_ns"][name]) for name in names)))
        checkpoint[v] = {name: summarize(values) for name, values in calls.items() if values}
        if checkpoint[v]:
            checkpoint[v]["run_ratios"] = run_ratios
    return checkpoint


def summarize_recovery(recovery_results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per failure point: the flagged and unflagged retries and whole tasks, and their ratios."""
    repeats = recovery_results["repeats"]
    records = recovery_results.get("records", 1_000_000)
    rows = []
    for point in sorted({t["fail_at"] for rep in repeats for t in rep}):
        row: dict[str, Any] = {"fail_at": point, "fraction": point / records}
        for flag in (True, False):
            tasks = [t for rep in repeats for t in rep if t["fail_at"] == point and t["flagged"] == flag]
            retry = [t["tries"]["2"]["end"] - t["tries"]["2"]["start"] for t in tasks]
            whole = [t["tries"]["2"]["end"] - t["tries"]["1"]["start"] for t in tasks]
            first = [t["tries"]["1"]["end"] - t["tries"]["1"]["start"] for t in tasks]
            row["flagged" if flag else "unflagged"] = {
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
        rows.append(row)
    return rows


# -- the headline ---------------------------------------------------------------------------------


def ratio_or_values(
    label: str,
    value: float,
    repeats: list[float],
    sides: tuple[tuple[str, float], tuple[str, float]],
    unit: str,
    profile: str,
) -> str:
    """``label value (range of the repeats)`` when the repeats resolve it, else the two values.

    The rule is ``stats.resolved``: at least two independent measurements of the ratio that
    agree within 0.10, or lie on one side of 1 by more than their own spread.
    """
    if resolved(repeats):
        return f"{label} {value:.2f} ({min(repeats):.2f}..{max(repeats):.2f} over {len(repeats)})"
    (name_a, a), (name_b, b) = sides
    if len(repeats) > 1:
        seen = f"{min(repeats):.2f}..{max(repeats):.2f} over {len(repeats)}"
    else:
        seen = "measured once" if repeats else "no repeats"
    return (
        f"{label}: {name_a} {a:.1f}{unit}, {name_b} {b:.1f}{unit}, not resolved in a {profile} run ({seen})"
    )


def headline(summary: dict[str, Any], profile: str = "full") -> str:
    """One line: the exact results (statements, bytes), and each timing ratio only where it is resolved."""
    ti = {(r["variant"], r["case"]): r for r in summary["ti_run"]}
    vanilla_first = max(ti[("vanilla", "unflagged-first")]["statements"])
    patched_first = max(ti[("patched", "unflagged-first")]["statements"])
    flagged_extra = max(r["extra_statements"] for r in summary["ti_run"] if r["case"].startswith("flagged"))
    first = ti[("patched", "unflagged-first")]
    tp = summary["throughput"]
    half = min(summary["recovery"], key=lambda r: abs(r["fraction"] - 0.5))
    ckpt = summary["checkpoint"]["patched"]
    ser = summary["serialization"]
    parts = [
        f"HEADLINE ti_run statements unflagged {patched_first} (vanilla {vanilla_first}), flagged +{flagged_extra}",
        ratio_or_values(
            "ti_run p50 patched/vanilla",
            first["p50_ratio"],
            first["block_p50_ratios"],
            (("patched", first["p50"]), ("vanilla", ti[("vanilla", "unflagged-first")]["p50"])),
            " ms",
            profile,
        ),
        f"{ser['rows'][0]['tasks']}-task serialization {'identical' if ser['identical'] else 'DIFFERENT'}"
        f", flag +{ser['flag_percent']:.1f}%",
        ratio_or_values(
            "throughput patched/vanilla",
            tp["ratio"],
            tp["round_ratios"],
            (("patched", tp["mean"]["patched"]), ("vanilla", tp["mean"]["vanilla"])),
            " tasks/min",
            profile,
        ),
        ratio_or_values(
            f"retry at {half['fraction']:.0%} flagged/unflagged",
            half["retry_ratio"],
            # One flagged and one unflagged retry per repeat, in the repeats' order: pairs.
            [
                ratio(f, u)
                for f, u in zip(half["flagged"]["retry_all"], half["unflagged"]["retry_all"], strict=False)
            ],
            (("flagged", half["flagged"]["retry_s"]), ("unflagged", half["unflagged"]["retry_s"])),
            " s",
            profile,
        ),
    ]
    if ckpt:
        parts.append(
            ratio_or_values(
                "xcom_push/task_state_store.set p50",
                ratio(ckpt["xcom_push"]["p50"], ckpt["task_state_store_set"]["p50"]),
                ckpt.get("run_ratios", []),
                (("xcom_push", ckpt["xcom_push"]["p50"]), ("set", ckpt["task_state_store_set"]["p50"])),
                " ms",
                profile,
            )
        )
    return " | ".join(parts)
