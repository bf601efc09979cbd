"""The build stamp: a digest of everything a line's build reads, so a stale build is rebuilt."""

from __future__ import annotations

import hashlib
from pathlib import Path

from patched_airflow.build.series import read_series
from patched_airflow.lines import Line


def inputs_digest(repo: Path, line: Line) -> str:
    """A digest of everything the line's build reads from this repository."""
    digest = hashlib.sha256()
    files = [line.folder / "upstream.toml", line.patches / "series"]
    files += sorted(line.patches.glob("*.patch"))
    files += [line.added / path for entry in read_series(line.patches) for path in entry.added_files]
    files += sorted((repo / "src" / "patched_airflow").rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()
