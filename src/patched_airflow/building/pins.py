"""A line's pins (``lines/<line>/upstream.toml``): the upstream sdists and files, the wheels' label."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

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
class BaseFile:
    path: str
    sha256: str


@dataclass(frozen=True)
class Pins:
    sdists: list[Sdist]
    base_commit: str
    base_files: list[BaseFile]
    local_label: str

    @classmethod
    def load(cls, path: Path) -> Pins:
        data = tomllib.loads(path.read_text())
        base = data.get("upstream_base", {})
        return cls(
            sdists=[Sdist(**entry) for entry in data["sdist"]],
            base_commit=base.get("commit", ""),
            base_files=[BaseFile(**entry) for entry in base.get("files", [])],
            local_label=data["wheels"]["local_label"],
        )
