"""Tests of the upstream pull requests: lines.toml's [[pull_request]], and dist/upstream-pr/ written from a tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from patched_airflow import git
from patched_airflow.building.pr_export import PullRequest, publish_upstream_pr, pull_requests, spans
from patched_airflow.building.series import read_series
from patched_airflow.lines import Lines
from patched_airflow.pins import UpstreamError
from patched_airflow.testing.prcheck import DEPENDS_ON, NEWSFRAGMENT

REPO = Path(__file__).resolve().parents[2]

TWO = (
    '[[pull_request]]\nname = "fix"\nfirst_patch = 1\ndescription = "docs/fix.md"\n\n'
    '[[pull_request]]\nname = "feature"\nfirst_patch = 2\ndescription = "docs/feature.md"\n'
)


def make_repo(root: Path, pull_request_toml: str) -> Path:
    (root / "lines" / "3.9").mkdir(parents=True)
    (root / "lines" / "3.9" / "upstream.toml").write_text(
        '[[sdist]]\nname = "apache-airflow-core"\nversion = "3.9.0"\ndirectory = "airflow-core"\n'
        f'url = "https://example.invalid/core.tar.gz"\nsha256 = "{"0" * 64}"\n\n[wheels]\nlocal_label = "x.1"\n'
    )
    (root / "lines" / "lines.toml").write_text('default = "3.9"\nupstream_pr = "3.9"\n\n' + pull_request_toml)
    (root / "docs").mkdir()
    (root / "docs" / "fix.md").write_text("The fix.\n")
    (root / "docs" / "feature.md").write_text("Depends on: #1\n\nThe feature.\n")
    return root


def test_pull_requests_are_read_in_order(tmp_path: Path):
    assert pull_requests(make_repo(tmp_path, TWO)) == [
        PullRequest("fix", 1, "docs/fix.md"),
        PullRequest("feature", 2, "docs/feature.md"),
    ]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda text: "", r"no \[\[pull_request\]\]"),
        (
            lambda text: text.replace("first_patch = 1", "first_patch = 2"),
            r"must start at 1 and rise: \[2, 2\]",
        ),
        (
            lambda text: text.replace('"docs/fix.md"', '"docs/gone.md"'),
            r"pull request fix: no file docs/gone\.md",
        ),
        (lambda text: text.replace('"feature"', '"fix"'), r"two pull requests share a name"),
        (lambda text: text.replace('"feature"', '"The Feature"'), r"'The Feature' is not lower-case"),
        (lambda text: text.replace('name = "fix"\n', ""), r"needs name, first_patch, description"),
    ],
)
def test_a_pull_request_that_does_not_fit_is_an_error(tmp_path: Path, edit, error):
    with pytest.raises(UpstreamError, match=error):
        pull_requests(make_repo(tmp_path, edit(TWO)))


def test_each_patch_is_in_exactly_one_pull_request():
    prs = [PullRequest("a", 1, ""), PullRequest("b", 2, ""), PullRequest("c", 4, "")]
    assert spans(prs, 5) == [(0, 1), (1, 3), (3, 5)]
    with pytest.raises(UpstreamError, match=r"pull request c starts at patch 4, but the series has 3"):
        spans(prs, 3)


def test_publish_writes_one_folder_a_pull_request_with_its_share_and_text(tmp_path: Path):
    repo = make_repo(tmp_path, TWO)
    line = Lines.load(repo).lines["3.9"]
    tree = line.tree
    tree.mkdir(parents=True)
    (tree / "module.py").write_text("VALUE = 1\n")
    git.init(tree)
    git.commit_all(tree, "pristine")
    git.run(tree, "tag", "pristine")
    for value in (2, 3, 4):
        (tree / "module.py").write_text(f"VALUE = {value}\n")
        git.run(tree, "commit", "-qam", f"Set the value to {value}")
    line.upstream_pr.mkdir(parents=True)  # the line's own export exists: its build was whole

    publish_upstream_pr(Lines.load(repo), repo)

    out = repo / "dist" / "upstream-pr"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "1-fix",
        "1-fix/0001-Set-the-value-to-2.patch",
        "1-fix/PR_DESCRIPTION.md",
        "2-feature",
        "2-feature/0001-Set-the-value-to-3.patch",
        "2-feature/0002-Set-the-value-to-4.patch",
        "2-feature/PR_DESCRIPTION.md",
    ]
    assert (out / "2-feature" / "PR_DESCRIPTION.md").read_text() == "Depends on: #1\n\nThe feature.\n"


def test_publish_leaves_nothing_when_the_line_export_was_skipped(tmp_path: Path):
    repo = make_repo(tmp_path, TWO)
    (repo / "dist" / "upstream-pr" / "1-fix").mkdir(parents=True)
    publish_upstream_pr(Lines.load(repo), repo)
    assert not (repo / "dist" / "upstream-pr").exists()


def test_this_repository_posts_the_fix_before_the_feature_each_with_its_text():
    lines = Lines.load(REPO)
    prs = pull_requests(REPO)
    count = len(read_series(lines.lines[lines.upstream_pr].patches))
    assert [pr.name for pr in prs] == ["fix-scheduler-callback-session", "persist-xcom-through-retry"]
    assert spans(prs, count)[0] == (0, 1)
    for pr in prs[1:]:
        assert DEPENDS_ON.search((REPO / pr.description).read_text()), pr.description


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("airflow-core/newsfragments/00001.bugfix.rst", True),
        ("airflow-core/newsfragments/12345.feature.rst", True),
        ("airflow-core/newsfragments/fix.bugfix.rst", False),
        ("airflow-core/newsfragments/1.fix.rst", False),
    ],
)
def test_a_newsfragment_is_named_as_towncrier_expects(name, matches):
    assert bool(NEWSFRAGMENT.fullmatch(name)) is matches
