"""The added files across lines: each cell of lines/ADDED-FILES.md, and the checked-in report is current."""

from __future__ import annotations

from pathlib import Path

from patched_airflow.building.crossline import REPORT, changed_lines, report
from patched_airflow.building.series import Entry, write_series
from patched_airflow.lines import REPO, Line, Lines


def make_line(root: Path, name: str, added: dict[str, str]) -> Line:
    line = Line(name, root / "lines" / name, root / "build" / name, root / "dist" / name)
    line.patches.mkdir(parents=True)
    write_series(line.patches, [Entry("0001-a.patch", sorted(added))])
    for path, text in added.items():
        (line.added / path).parent.mkdir(parents=True, exist_ok=True)
        (line.added / path).write_text(text)
    return line


def test_changed_lines_counts_what_diff_counts():
    assert changed_lines("a\nb\nc\n", "a\nb\nc\n") == 0
    assert changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == 3  # -b +B +d


def test_each_file_is_shared_differs_or_is_one_lines_own(tmp_path: Path):
    lines = [
        make_line(
            tmp_path, "3.1", {"pkg/shared.py": "X = 1\n", "pkg/fixed.py": "Y = 1\n", "pkg/old.py": "O\n"}
        ),
        make_line(tmp_path, "3.2", {"pkg/shared.py": "X = 1\n", "pkg/fixed.py": "Y = 2\n"}),
        make_line(tmp_path, "3.3", {"pkg/shared.py": "X = 1\n", "pkg/fixed.py": "Y = 2\n"}),
    ]
    rows = report(lines).splitlines()
    assert rows[rows.index("| file | 3.1 | 3.2 | 3.3 |") + 2 :] == [
        "| `pkg/fixed.py` | first | ±2 lines vs 3.1 | same as 3.2 |",
        "| `pkg/old.py` | own |  |  |",
        "| `pkg/shared.py` | first | same as 3.1 | same as 3.2 |",
    ]


def test_the_checked_in_report_is_up_to_date():
    expected = report(list(Lines.load(REPO).lines.values()))
    assert (REPO / "lines" / REPORT).read_text() == expected, (
        f"lines/{REPORT} is out of date: run ./dev.sh added-files and review its diff"
    )
