"""Tests of the lines: discovery in version order, the roles, selection, and each line's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from patched_airflow.build.pins import UpstreamError
from patched_airflow.build.series import read_series
from patched_airflow.lines import Lines

REPO = Path(__file__).resolve().parents[2]


def make_lines(root: Path, names: list[str], roles: str) -> Path:
    for name in names:
        (root / "lines" / name).mkdir(parents=True)
        (root / "lines" / name / "upstream.toml").write_text(
            f'[[sdist]]\nname = "apache-airflow-core"\nversion = "{name}.0"\ndirectory = "airflow-core"\n'
            f'url = "https://example.invalid/core.tar.gz"\nsha256 = "{"0" * 64}"\n\n'
            '[wheels]\nlocal_label = "x.1"\n'
        )
    (root / "lines" / "lines.toml").write_text(roles)
    return root


def test_lines_are_in_version_order_with_their_roles(tmp_path: Path):
    lines = Lines.load(
        make_lines(tmp_path, ["3.10", "3.4", "3.1"], 'default = "3.4"\nupstream_pr = "3.10"\n')
    )
    assert list(lines.lines) == ["3.1", "3.4", "3.10"]
    assert (lines.default, lines.upstream_pr) == ("3.4", "3.10")
    assert lines.one(None).name == "3.4"
    assert lines.lines["3.1"].airflow_version == "3.1.0"
    assert lines.lines["3.1"].venv == tmp_path / "build" / "3.1" / "venv"
    assert lines.lines["3.1"].upstream_pr == tmp_path / "dist" / "3.1" / "upstream-pr"


def test_select_names_the_lines_when_one_is_unknown(tmp_path: Path):
    lines = Lines.load(make_lines(tmp_path, ["3.3", "3.4"], 'default = "3.3"\nupstream_pr = "3.4"\n'))
    assert [line.name for line in lines.select(None)] == ["3.3", "3.4"]
    assert [line.name for line in lines.select(["3.4", "3.3"])] == ["3.3", "3.4"]
    with pytest.raises(UpstreamError, match=r"no line 3\.9; the lines are 3\.3, 3\.4"):
        lines.select(["3.9"])


def test_a_role_must_name_a_line(tmp_path: Path):
    make_lines(tmp_path, ["3.3"], 'default = "3.3"\nupstream_pr = "3.5"\n')
    with pytest.raises(UpstreamError, match=r"upstream_pr = '3\.5' is not one of the lines \(3\.3\)"):
        Lines.load(tmp_path)


@pytest.mark.parametrize("line", Lines.load(REPO).lines.values(), ids=lambda line: line.name)
def test_each_line_of_this_repository_holds_what_its_series_adds(line):
    assert {s.directory for s in line.pins.sdists} == {"airflow-core", "task-sdk"}
    entries = read_series(line.patches)
    assert entries, f"{line.patches}/series lists no patch"
    for entry in entries:
        assert (line.patches / entry.patch).is_file()
        for path in entry.added_files:
            assert (line.added / path).is_file(), path
    assert set(line.tests) <= {"sdk", "core"}


def test_a_line_may_resolve_a_few_distributions_as_of_a_later_day(tmp_path: Path):
    make_lines(tmp_path, ["3.1"], 'default = "3.1"\nupstream_pr = "3.1"\n')
    toml = tmp_path / "lines" / "3.1" / "upstream.toml"
    toml.write_text(
        toml.read_text() + '\n[venv]\nexclude_newer = "2026-03-12T00:00:00Z"\n\n'
        '[venv.exclude_newer_package]\nsome-provider = "2026-05-30T00:00:00Z"\n'
    )
    line = Lines.load(tmp_path).lines["3.1"]
    assert line.exclude_newer == "2026-03-12T00:00:00Z"
    assert line.exclude_newer_packages == {"some-provider": "2026-05-30T00:00:00Z"}
    other = make_lines(tmp_path / "other", ["3.1"], 'default = "3.1"\nupstream_pr = "3.1"\n')
    assert Lines.load(other).lines["3.1"].exclude_newer_packages == {}
