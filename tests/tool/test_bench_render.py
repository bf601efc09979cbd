"""The results tables and docs/benchmarks.md's results section."""

from __future__ import annotations

from test_bench_summary import raw_results

from patched_airflow.bench_render import BEGIN, END, render, write_doc
from patched_airflow.bench_summary import summarize_results

META = {
    "profile": "full",
    "date": "2026-12-05 12:00 UTC",
    "machine": "Linux, 2 CPUs",
    "load_before": "0.1 0.1 0.1",
    "load_after": "0.2 0.2 0.2",
    "python": "3.11.7",
    "versions": {
        "vanilla": "apache-airflow-core 3.4.0b2",
        "patched": "apache-airflow-core 3.4.0b2+persistxcom.1",
    },
    "database": "SQLite 3.40",
    "wall_seconds": 12.3,
    "commit": "abc1234",
}


def test_render_has_every_section_and_the_warm_up():
    text = render(summarize_results(raw_results()), META, "plot.png")
    titles = [line for line in text.splitlines() if line.startswith("#")]
    assert titles == [
        "### Run: full profile, 2026-12-05 12:00 UTC",
        "#### 1. Task start (`ti_run`)",
        "#### 2. Serialization of a 1,000-task Dag",
        "#### 3. Scheduler throughput (20 tasks, LocalExecutor, sqlite)",
        "#### 4. Recovery: 1,000 records, a checkpoint every 100, one failure",
        "#### 5. Checkpoint cost through a real task run (api-server over HTTP)",
    ]
    assert "Warm-up deployments before the rounds, not counted: vanilla 40.0 tasks/min (20 tasks)" in text
    assert "![retry wall time against failure point](plot.png)" in text
    assert text.endswith("|\n")


def test_render_of_results_from_before_the_warm_up():
    text = render(summarize_results(raw_results(warmup=False)), META, None)
    assert "Warm-up" not in text and "![" not in text


def test_write_doc_replaces_the_results_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# B\n\nmethod\n\n{BEGIN}\nold\n{END}\n\nend\n")
    write_doc(doc, "new\n")
    assert doc.read_text() == f"# B\n\nmethod\n\n{BEGIN}\nnew\n{END}\n\nend\n"
