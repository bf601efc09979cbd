"""The pinned upstream sources: download, verify, and lay out as the monorepo's pristine tree."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from patched_airflow import git


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(sdist: Sdist, cache: Path) -> Path:
    """Return the verified sdist from ``cache``, downloading it first if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / sdist.filename
    if not target.exists():
        print(f"Downloading {sdist.filename}", flush=True)
        partial = target.with_suffix(".part")
        with urllib.request.urlopen(sdist.url, timeout=120) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
        partial.rename(target)
    actual = sha256_of(target)
    if actual != sdist.sha256:
        target.unlink()
        raise UpstreamError(
            f"{sdist.filename}: sha256 is {actual}, but upstream.toml pins {sdist.sha256}. "
            "The download was removed; nothing else was touched."
        )
    return target


def find_upstream_base(repo: Path) -> Path:
    """Locate the shared folder of upstream files the sdists lack (see README)."""
    candidates = []
    if env := os.environ.get("AIRFLOW_UPSTREAM_BASE"):
        candidates.append(Path(env))
    candidates += [repo.parent / "shared" / "upstream-base", Path("/work/shared/upstream-base")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise UpstreamError(
        "Cannot find the upstream-base folder (upstream files the sdists lack). Looked in: "
        + ", ".join(str(c) for c in candidates)
        + ". Set AIRFLOW_UPSTREAM_BASE to its path."
    )


def assemble_pristine(pins: Pins, repo: Path, target: Path, cache: Path) -> None:
    """
    Lay out the pristine tree at ``target`` as a git repository with a single commit.

    The tree is each sdist at its monorepo directory, with the pinned upstream-base files laid over.
    """
    archives = [(sdist, fetch_sdist(sdist, cache)) for sdist in pins.sdists]
    base = find_upstream_base(repo) if pins.base_files else None
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for sdist, archive in archives:
        _extract_sdist(archive, target / sdist.directory)
    for base_file in pins.base_files:
        assert base is not None
        source = base / base_file.path
        if not source.is_file():
            raise UpstreamError(f"{source} is missing from the upstream-base folder")
        if (actual := sha256_of(source)) != base_file.sha256:
            raise UpstreamError(f"{source}: sha256 is {actual}, but upstream.toml pins {base_file.sha256}")
        (target / base_file.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / base_file.path)
    git.init(target)
    git.commit_all(target, f"Pristine upstream: {', '.join(f'{s.name} {s.version}' for s in pins.sdists)}")
    git.run(target, "tag", "pristine")


def _extract_sdist(archive: Path, destination: Path) -> None:
    """Extract an sdist's single top-level folder as ``destination``."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = {m.name.split("/", 1)[0] for m in members}
        if len(top) != 1:
            raise UpstreamError(f"{archive.name}: expected one top-level folder, found {sorted(top)}")
        staging = destination.parent / f".extract-{destination.name}"
        if staging.exists():
            shutil.rmtree(staging)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(staging, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters; the archive is pinned by sha256
            tar.extractall(staging)  # noqa: S202
    (staging / top.pop()).rename(destination)
    staging.rmdir()
