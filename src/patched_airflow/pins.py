"""A line's pins (``lines/<line>/upstream.toml``): the upstream sdists and files, the wheels' label."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class UpstreamError(RuntimeError):
    """An upstream source is missing or does not match its pin."""


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    directory: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class UpstreamFile:
    """A file of the apache/airflow repository that the series edits and the sdists lack (docs, tests)."""

    path: str  # in the upstream repository, which is also its path in the assembled tree
    commit: str  # the apache/airflow commit its text is taken from
    url: str  # the raw file at that commit
    sha256: str


_Pinned = TypeVar("_Pinned", Sdist, UpstreamFile)


def _entries(path: Path, data: dict[str, Any], table: str, kind: type[_Pinned]) -> list[_Pinned]:
    """Each ``[[table]]`` entry as ``kind``; a missing or unknown key is an error naming file and key."""
    names = [f.name for f in fields(kind)]
    entries = []
    for number, entry in enumerate(data.get(table, []), start=1):
        if missing := [name for name in names if not entry.get(name)]:
            raise UpstreamError(f"{path}: [[{table}]] #{number} has no {', '.join(missing)}")
        if unknown := sorted(set(entry) - set(names)):
            raise UpstreamError(f"{path}: [[{table}]] #{number} has unknown keys {', '.join(unknown)}")
        entries.append(kind(**entry))
    return entries


@dataclass(frozen=True)
class Pins:
    sdists: list[Sdist]
    upstream_files: list[UpstreamFile]
    local_label: str

    @classmethod
    def load(cls, path: Path) -> Pins:
        data = tomllib.loads(path.read_text())
        if "upstream_base" in data:
            raise UpstreamError(f"{path}: [upstream_base] is replaced by [[upstream_file]] entries")
        try:
            local_label = data["wheels"]["local_label"]
        except KeyError:
            raise UpstreamError(f"{path}: [wheels] has no local_label") from None
        return cls(
            sdists=_entries(path, data, "sdist", Sdist),
            upstream_files=_entries(path, data, "upstream_file", UpstreamFile),
            local_label=local_label,
        )
