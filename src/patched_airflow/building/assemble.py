"""The pristine tree (the sdists laid out as the monorepo, with the pinned upstream files) and the series on it."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from patched_airflow import git
from patched_airflow.building.fetch import fetch_sdist, find_upstream_base, sha256_of
from patched_airflow.building.pins import Pins, UpstreamError
from patched_airflow.building.series import apply_series
from patched_airflow.lines import Line


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


def assemble(line: Line, target: Path) -> None:
    """Assemble the line's pristine upstream plus its series at ``target``."""
    assemble_pristine(line.pins, line.folder.parents[1], target, line.sdist_cache)
    count = apply_series(target, line.folder)
    print(f"{line.name}: applied {count} patches to the pristine tree at {target}", flush=True)
