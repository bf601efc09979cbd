"""
The build stamp: a digest of everything a line's build reads, so a stale build is rebuilt; and the
record of the pinned upstream files a partial build's tree lacks (``build/<line>/missing-upstream-files``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from patched_airflow.building.series import read_series
from patched_airflow.lines import Line


def inputs_digest(repo: Path, line: Line, missing: list[str] | None = None) -> str:
    """
    A digest of everything the line's build reads from this repository, and of the pinned upstream files
    its tree lacked (``missing``): a partial build is stale once the files can be had.
    """
    digest = hashlib.sha256()
    files = [line.folder / "upstream.toml", line.patches / "series"]
    files += sorted(line.patches.glob("*.patch"))
    files += [line.added / path for entry in read_series(line.patches) for path in entry.added_files]
    files += sorted((repo / "src" / "patched_airflow").rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    if missing:
        digest.update(("partial tree, without: " + "\n".join(sorted(missing))).encode())
    return digest.hexdigest()


def _record(line: Line) -> Path:
    return line.build / "missing-upstream-files"


def write_missing(line: Line, missing: dict[str, str]) -> None:
    """Record the upstream files (path -> URL) the line's built tree lacks; none: remove the record."""
    if missing:
        _record(line).write_text("".join(f"{path} {url}\n" for path, url in sorted(missing.items())))
    else:
        _record(line).unlink(missing_ok=True)


def read_missing(line: Line) -> dict[str, str]:
    """The upstream files (path -> URL) the line's built tree lacks: empty after a whole build."""
    if not _record(line).exists():
        return {}
    return dict(row.split(" ", 1) for row in _record(line).read_text().splitlines() if row)
