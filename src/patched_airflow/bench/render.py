"""The results as Markdown tables (stdout, and docs/benchmarks.md's section of the line), from a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patched_airflow.bench.stats import spread, table

VARIANTS = ("vanilla", "patched")
# Where, under docs/, a line's full run leaves its recovery plot and summary JSON: one folder a line.
DOC_FILES = "benchmarks/{line}"


def render(summary: dict[str, Any], meta: dict[str, Any], plot: str | None) -> str:
    """The results as Markdown: the stdout table and the results section of docs/benchmarks.md."""
    sections = [
        render_meta(meta),
        render_ti_run(summary["ti_run"]),
        render_serialization(summary["serialization"]),
        render_throughput(summary["throughput"]),
        render_recovery(summary, plot),
        render_checkpoint(summary["checkpoint"]),
    ]
    return "\n\n".join(sections) + "\n"


def render_meta(meta: dict[str, Any]) -> str:
    rows = [
        ["machine", meta["machine"]],
        ["load average before / after", f"{meta['load_before']} / {meta['load_after']}"],
        ["python", meta["python"]],
        ["vanilla", meta["versions"]["vanilla"]],
        ["patched", meta["versions"]["patched"]],
        ["database", meta["database"]],
        ["wall time", f"{meta['wall_seconds']:.0f}s"],
        ["commit", meta["commit"]],
    ]
    if "line" in meta:  # results from before the lines have none
        rows.insert(0, ["line", meta["line"]])
    return f"### Run: {meta['profile']} profile, {meta['date']}\n\n" + table(["", ""], rows)


def render_ti_run(rows: list[dict[str, Any]]) -> str:
    headers = [
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
    ]
    ordered = sorted(rows, key=lambda r: (r["case"].split("-")[1], r["case"], r["variant"]))
    cells = [
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
        ]
        for r in ordered
    ]
    # The server's answer on a line whose TIRunContext carries it (the 3.3 design; not 3.4's).
    if any(r["is_automatic_restart"] is not None for r in ordered):
        headers.append("is_automatic_restart")
        for row, r in zip(cells, ordered, strict=True):
            row.append(r["is_automatic_restart"])
    return "#### 1. Task start (`ti_run`)\n\n" + table(headers, cells)


def render_serialization(ser: dict[str, Any]) -> str:
    headers = [
        "installation",
        "tasks",
        "bytes (sorted-key JSON)",
        "sha256",
        "dag hash",
        "flag in data",
        "to_dict s (median)",
    ]
    cells = [
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
    ]
    verdict = (
        f"Unflagged Dag identical to vanilla: **{'yes' if ser['identical'] else 'NO'}**. "
        f"Flagging every task: +{ser['flag_bytes']} bytes ({ser['flag_bytes_per_task']:.1f} per task, "
        f"+{ser['flag_percent']:.2f}%)."
    )
    return "#### 2. Serialization of a 1,000-task Dag\n\n" + table(headers, cells) + "\n\n" + verdict


def render_throughput(tp: dict[str, Any]) -> str:
    at_once = ", the two deployments at the same time" if tp["concurrent"] else ""
    title = f"#### 3. Scheduler throughput ({tp['tasks']} tasks, LocalExecutor, {tp['backend']}{at_once})"
    headers = [
        "installation",
        "tasks/min per run",
        "mean tasks/min",
        "per fifth of the run",
        "scheduler CPU s (mean)",
    ]
    cells = [
        [
            v,
            ", ".join(f"{x:.1f}" for x in tp["tasks_per_minute"][v]),
            tp["mean"][v],
            spread(tp.get("window_tasks_per_minute", {}).get(v, [])),
            tp["scheduler_cpu_s"][v],
        ]
        for v in VARIANTS
    ]
    verdict = (
        f"patched/vanilla: **{tp['ratio']:.3f}** (per round: {spread(tp['round_ratios'])}); "
        f"every task succeeded: {tp['all_succeeded']}."
    )
    if warmup := tp.get("warmup"):
        verdict += " Warm-up deployments before the rounds, not counted: " + ", ".join(
            f"{v} {w['tasks_per_minute']:.1f} tasks/min ({w['tasks']} tasks)" for v, w in warmup.items()
        )
        verdict += "."
    return f"{title}\n\n" + table(headers, cells) + "\n\n" + verdict


def render_recovery(summary: dict[str, Any], plot: str | None) -> str:
    title = (
        f"#### 4. Recovery: {summary['recovery_records']:,} records, a checkpoint every "
        f"{summary['recovery_every']:,}, one failure"
    )
    headers = [
        "fails at",
        "retry s flagged",
        "retry s unflagged",
        "retry ratio",
        "work left",
        "whole task s flagged",
        "whole task s unflagged",
        "whole ratio",
        "retry started at (flagged / unflagged)",
    ]
    cells = [
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
    ]
    text = f"{title}\n\n" + table(headers, cells)
    if plot:
        text += f"\n\n![retry wall time against failure point]({plot})"
    return text


def render_checkpoint(checkpoint: dict[str, Any]) -> str:
    rows = []
    for v in VARIANTS:
        for name, label in (("xcom_push", "ti.xcom_push"), ("task_state_store_set", "task_state_store.set")):
            if s := checkpoint[v].get(name):
                rows.append([v, label, s["n"], s["p50"], s["p95"], s["p99"], s["mean"]])
    return "#### 5. Checkpoint cost through a real task run (api-server over HTTP)\n\n" + table(
        ["installation", "call", "calls", "p50 ms", "p95 ms", "p99 ms", "mean ms"], rows
    )


# -- docs/benchmarks.md ---------------------------------------------------------------------------


def markers(line: str) -> tuple[str, str]:
    """The comments around a line's results section in docs/benchmarks.md."""
    return f"<!-- bench:results:{line}:begin -->", f"<!-- bench:results:{line}:end -->"


def doc_files(line: str) -> tuple[str, str]:
    """The paths, relative to docs/, of a line's recovery plot and summary JSON from its full run."""
    folder = DOC_FILES.format(line=line)
    return f"{folder}/recovery.png", f"{folder}/summary.json"


def write_doc(path: Path, results: str, line: str) -> None:
    """Replace the line's results section of ``docs/benchmarks.md`` (between its markers) with ``results``.

    A document without the line's markers keeps everything it has and gets the section at its end.
    """
    begin, end = markers(line)
    block = f"{begin}\n{results}{end}"
    if not path.exists():
        path.write_text(f"# Benchmarks\n\n{block}\n")
        return
    text = path.read_text()
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + f"\n\n## Results of the full run: the {line} line\n\n{block}\n"
    path.write_text(text)
