"""Tests of the lines: discovery in version order, the roles, selection, and each line's layout."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from patched_airflow.building.series import read_series
from patched_airflow.lines import Lines, Release
from patched_airflow.pins import UpstreamError

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


RELEASE = (
    "\n[release]\nattempts_are_rows = true\ntask_process_groups = true\n"
    'local_executor_reports_dead_workers = false\ntask_state_store = true\nexecution_api_version = "2026-11-22"\n'
)


def test_a_line_states_what_its_release_is(tmp_path: Path):
    make_lines(tmp_path, ["3.9"], 'default = "3.9"\nupstream_pr = "3.9"\n')
    toml = tmp_path / "lines" / "3.9" / "upstream.toml"
    toml.write_text(toml.read_text() + RELEASE)
    release = Lines.load(tmp_path).lines["3.9"].release
    assert release == Release(
        attempts_are_rows=True,
        task_process_groups=True,
        local_executor_reports_dead_workers=False,
        task_state_store=True,
        execution_api_version="2026-11-22",
    )
    assert json.loads(release.as_env()["PATCHED_AIRFLOW_RELEASE"])["attempts_are_rows"] is True


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda text: text.replace(RELEASE, ""), r"3\.9/upstream\.toml: no \[release\] table"),
        (
            lambda text: text.replace("task_process_groups = true\n", ""),
            r"3\.9/upstream\.toml: \[release\] has no task_process_groups \(a bool\)",
        ),
        (
            lambda text: text.replace("attempts_are_rows = true", 'attempts_are_rows = "yes"'),
            r"\[release\] attempts_are_rows = 'yes' is not a bool",
        ),
        (
            lambda text: text.replace('"2026-11-22"', "2026-11-22"),
            r"\[release\] execution_api_version = datetime\.date\(2026, 11, 22\) is not a str",
        ),
        (lambda text: text + "attempt_rows = false\n", r"\[release\] has unknown keys attempt_rows"),
    ],
)
def test_a_missing_or_ill_typed_release_fact_names_the_file_and_key(tmp_path: Path, edit, error):
    make_lines(tmp_path, ["3.9"], 'default = "3.9"\nupstream_pr = "3.9"\n')
    toml = tmp_path / "lines" / "3.9" / "upstream.toml"
    toml.write_text(edit(toml.read_text() + RELEASE))
    with pytest.raises(UpstreamError, match=error):
        _ = Lines.load(tmp_path).lines["3.9"].release


def _patched_api_version(line) -> str | None:
    """The API_VERSION the line's series sets in the Task SDK's generated client, if it sets one."""
    found = re.findall(
        r'^\+API_VERSION: Final\[str\] = "([^"]+)"$',
        "".join(patch.read_text() for patch in sorted(line.patches.glob("*.patch"))),
        re.MULTILINE,
    )
    return found[-1] if found else None


def _sdist_api_version(line) -> str | None:
    sdist = next(s for s in line.pins.sdists if s.directory == "task-sdk")
    archive = line.sdist_cache / sdist.filename
    if not archive.is_file():
        return None
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("sdk/api/datamodels/_generated.py"))
        text = tar.extractfile(member).read().decode()
    return re.search(r'^API_VERSION: Final\[str\] = "([^"]+)"$', text, re.MULTILINE).group(1)


@pytest.mark.parametrize("line", Lines.load(REPO).lines.values(), ids=lambda line: line.name)
def test_each_line_states_the_execution_api_version_its_task_sdk_reports(line):
    """[release] execution_api_version is the series' API_VERSION, or the sdist's where it sets none."""
    reported = _patched_api_version(line)
    if reported is None:
        reported = _sdist_api_version(line)
        if reported is None:
            pytest.skip(f"the line's Task SDK sdist is not in {line.sdist_cache}; ./build.sh fetches it")
    assert line.release.execution_api_version == reported
