"""Every relative link in the repository's Markdown resolves inside the repository.

A link that leaves the repository (``../shared/...``) works only on the machine it was written on;
a link to a moved or renamed file, or to a heading that was reworded, silently points nowhere. This
test reads every ``.md`` file of the repository (not the build's output) and checks each relative
link, inline (``[text](path)``, ``[text](path#anchor)``, images), reference-style
(``[label]: path``) and HTML (``href``/``src``): the target exists, lies inside the repository,
and an anchor into a Markdown file names one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Folders of the working copy that the repository does not hold (.gitignore): build output, the
# developer's workspaces, the tool's virtualenv.
NOT_THE_REPOSITORY = {
    ".git",
    ".tools",
    "build",
    "dist",
    "work",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
}
# Text that goes to apache/airflow as it is: a relative link there would point into apache/airflow,
# where this repository's files are not.
UPSTREAM_TEXT = ("docs/upstream-pr/",)

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), the target optionally in <>, optionally followed by a title.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*.md"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_THE_REPOSITORY or "__pycache__" in parts:
            continue
        found.append(path)
    return sorted(found)


def prose_lines(text: str, *, blank_code: bool = True) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code spans blanked out (``blank_code``)."""
    lines, fenced = [], None
    for number, line in enumerate(text.splitlines(), 1):
        if m := FENCE.match(line):
            if fenced is None:
                fenced = m.group(1)
            elif fenced == m.group(1):
                fenced = None
            continue
        if fenced is None:
            lines.append(
                (number, INLINE_CODE.sub(lambda c: " " * len(c.group(0)), line) if blank_code else line)
            )
    return lines


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link in the Markdown ``text``, outside code."""
    found = []
    for number, line in prose_lines(text):
        for pattern in (INLINE_LINK, REFERENCE_DEFINITION, HTML_LINK):
            for m in pattern.finditer(line):
                found.append((number, m.group(1).strip("<>")))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger: lower case, punctuation dropped, spaces to -)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives ``path``: its headings' slugs (repeats numbered -1, -2, ...), HTML ids."""
    text = path.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    found = set(HTML_ANCHOR.findall(text))
    for _, line in prose_lines(text, blank_code=False):
        if m := HEADING.match(line):
            base = slug(m.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def problem(source: Path, target: str) -> str | None:
    """Why ``target``, linked from ``source``, does not resolve inside the repository (None: it does)."""
    if SCHEME.match(target) or target.startswith("//"):
        return None  # a URL
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if path_part.startswith("/"):
        return "an absolute path"
    if any(source.relative_to(ROOT).as_posix().startswith(prefix) for prefix in UPSTREAM_TEXT):
        return "a relative link in text that goes upstream"
    resolved = (source.parent / path_part).resolve() if path_part else source
    if not resolved.is_relative_to(ROOT):
        return "outside the repository"
    if not resolved.exists():
        return "no such file or folder"
    if resolved.relative_to(ROOT).parts[:1] and resolved.relative_to(ROOT).parts[0] in NOT_THE_REPOSITORY:
        return "in a folder the repository does not hold"
    if anchor and resolved.suffix == ".md" and unquote(anchor).lower() not in anchors(resolved):
        return f"no heading #{anchor} in {resolved.relative_to(ROOT)}"
    return None


FILES = markdown_files()


def test_the_markdown_files_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/design.md", "docs/user-guide.md"} <= names
    assert not any(name.split("/")[0] in NOT_THE_REPOSITORY for name in names)


@pytest.mark.parametrize("source", FILES, ids=[p.relative_to(ROOT).as_posix() for p in FILES])
def test_relative_links_resolve_inside_the_repository(source):
    broken = [
        f"{source.relative_to(ROOT)}:{number}: {target}: {why}"
        for number, target in links(source.read_text(encoding="utf-8"))
        if (why := problem(source, target))
    ]
    assert not broken, "\n".join(broken)


# -- the checker itself ----------------------------------------------------------------------------


def test_links_are_found_in_every_form_but_not_in_code():
    text = "\n".join(
        [
            "See [a](a.md), [b](b.md#part 'title'), ![img](p.png) and <a href=\"c/\">c</a>.",
            "[ref]: d.md",
            "`[no](inline-code.md)` and [`code` text](e.md)",
            "```",
            "[no](fenced.md)",
            "```",
        ]
    )
    assert [t for _, t in links(text)] == ["a.md", "b.md#part", "p.png", "c/", "d.md", "e.md"]


def test_slugs_follow_github():
    assert slug("2. The attempt model (Airflow 3.4)") == "2-the-attempt-model-airflow-34"
    assert slug("Who decides: `ti_run`, in the transaction") == "who-decides-ti_run-in-the-transaction"
    assert slug("This, or the task state store?") == "this-or-the-task-state-store"
    assert slug("[3.4](x.md) line") == "34-line"


def test_problems_are_named():
    doc = ROOT / "docs" / "design.md"
    assert problem(doc, "https://example.com/x") is None
    assert problem(doc, "user-guide.md") is None
    assert problem(doc, "#1-the-history-table-model-airflow-31-32-33") is None
    assert problem(doc, "../../shared/design/contract.md") == "outside the repository"
    assert problem(doc, "no-such.md") == "no such file or folder"
    assert problem(doc, "user-guide.md#no-such-heading").startswith("no heading")
    assert problem(doc, "/etc/passwd") == "an absolute path"
    assert problem(ROOT / "docs" / "upstream-pr" / "PR_DESCRIPTION.md", "../design.md") is not None
