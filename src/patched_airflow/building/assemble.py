"""The pristine tree (the sdists laid out as the monorepo, with the pinned upstream files) and the series on it."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from patched_airflow import git
from patched_airflow.building.fetch import Missing, describe_missing, fetch_sdist, obtain_upstream_files
from patched_airflow.building.series import apply_series
from patched_airflow.lines import Line
from patched_airflow.pins import Pins, UpstreamError


def assemble_pristine(
    pins: Pins, repo: Path, target: Path, cache: Path, partial: bool = False
) -> list[Missing]:
    """
    Lay out the pristine tree at ``target`` as a git repository with a single commit.

    The tree is each sdist at its monorepo directory, with the pinned upstream files laid over. A
    pinned upstream file that cannot be had is an error unless ``partial``: then the tree is laid out
    without it, and it is returned.
    """
    archives = [(sdist, fetch_sdist(sdist, cache)) for sdist in pins.sdists]
    found, missing = obtain_upstream_files(pins.upstream_files, repo, cache)
    if missing and not partial:
        raise UpstreamError(
            f"cannot assemble the whole tree: {describe_missing(missing)}.\n"
            + "\n".join(f"  {m.file.path}: {m.reason}" for m in missing)
        )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for sdist, archive in archives:
        _extract_sdist(archive, target / sdist.directory)
    for path, source in found.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / path)
    git.init(target)
    git.commit_all(target, f"Pristine upstream: {', '.join(f'{s.name} {s.version}' for s in pins.sdists)}")
    git.run(target, "tag", "pristine")
    return missing


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


def assemble(line: Line, target: Path, partial: bool = False) -> list[Missing]:
    """
    Assemble the line's pristine upstream plus its series at ``target``.

    With ``partial``, pinned upstream files that cannot be had are left out, and the series applied
    without its changes to them (``git am --exclude``); they are returned. The sources of the wheels
    are the same either way: the wheels carry neither docs nor tests.
    """
    missing = assemble_pristine(line.pins, line.folder.parents[1], target, line.sdist_cache, partial)
    count = apply_series(target, line.folder, exclude=[m.file.path for m in missing])
    without = f" (without {', '.join(m.file.path for m in missing)})" if missing else ""
    print(f"{line.name}: applied {count} patches to the pristine tree at {target}{without}", flush=True)
    return missing
