"""The results tables and docs/benchmarks.md's sections, one per line."""

from __future__ import annotations

from pathlib import Path

from test_bench_summary import raw_results

from patched_airflow.bench.render import doc_files, markers, render, write_doc
from patched_airflow.bench.summary import summarize_results

META = {
    "profile": "full",
    "line": "3.4",
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
    assert "| line                        | 3.4 " in text
    assert "Warm-up deployments before the rounds, not counted: vanilla 40.0 tasks/min (20 tasks)" in text
    assert "![retry wall time against failure point](plot.png)" in text
    assert text.endswith("|\n")


def test_render_of_results_from_before_the_lines_and_the_warm_up():
    results = raw_results(warmup=False)
    meta = {key: value for key, value in META.items() if key != "line"}
    text = render(summarize_results(results), meta, None)
    assert "| line " not in text and "Warm-up" not in text and "![" not in text


def test_is_automatic_restart_column_only_where_the_server_sends_it():
    results = raw_results()
    assert "is_automatic_restart" in render(summarize_results(results), META, None)
    for row in results["ti_run"]["rows"]:
        row["context"] = {}  # 3.4: TIRunContext has no such field
    assert "is_automatic_restart" not in render(summarize_results(results), META, None)


def test_write_doc_replaces_only_its_own_line(tmp_path):
    doc = tmp_path / "benchmarks.md"
    b33, e33 = markers("3.3")
    b34, e34 = markers("3.4")
    doc.write_text(
        f"# B\n\nmethod\n\n{b33}\nold 3.3\n{e33}\n\n## 3.4\n\n{b34}\nnot measured yet\n{e34}\n\nend\n"
    )
    write_doc(doc, "new 3.4\n", "3.4")
    assert (
        doc.read_text()
        == f"# B\n\nmethod\n\n{b33}\nold 3.3\n{e33}\n\n## 3.4\n\n{b34}\nnew 3.4\n{e34}\n\nend\n"
    )


def test_write_doc_appends_a_missing_section_and_keeps_the_rest(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# B\n\nmethod\n")
    write_doc(doc, "results\n", "3.5")
    begin, end = markers("3.5")
    assert (
        doc.read_text()
        == f"# B\n\nmethod\n\n## Results of the full run: the 3.5 line\n\n{begin}\nresults\n{end}\n"
    )


def test_doc_files_are_named_alike_for_every_line():
    assert doc_files("3.3") == ("benchmarks/3.3/recovery.png", "benchmarks/3.3/summary.json")
    assert doc_files("3.4") == ("benchmarks/3.4/recovery.png", "benchmarks/3.4/summary.json")


def test_doc_files_of_every_line_with_results_are_in_docs():
    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "benchmarks.md").read_text()
    for line in ("3.3", "3.4"):
        plot, summary = doc_files(line)
        assert (docs / plot).is_file() and (docs / summary).is_file()
        assert f"]({plot})" in text
