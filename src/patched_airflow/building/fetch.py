"""
Fetching the pinned upstream sources, each verified against its sha256 before anything uses it: the sdists,
and the upstream files they lack (from a local mirror, or downloaded into the cache).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from patched_airflow.pins import Sdist, UpstreamError, UpstreamFile


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(sdist: Sdist, cache: Path) -> Path:
    """Return the verified sdist from ``cache``, downloading it first if needed."""
    target = cache / sdist.filename
    if not target.exists():
        print(f"Downloading {sdist.filename}", flush=True)
        _download(sdist.url, target, "", timeout=120)
    actual = sha256_of(target)
    if actual != sdist.sha256:
        target.unlink()
        raise UpstreamError(
            f"{sdist.filename}: sha256 is {actual}, but upstream.toml pins {sdist.sha256}. "
            "The download was removed; nothing else was touched."
        )
    return target


class UpstreamUnavailable(UpstreamError):
    """An upstream file cannot be had here: no mirror holds it, and its download failed."""


@dataclass(frozen=True)
class Missing:
    """A pinned upstream file that could not be had, and why."""

    file: UpstreamFile
    reason: str


def upstream_mirror(repo: Path) -> Path | None:
    """
    The local mirror of the pinned upstream files, if any: ``AIRFLOW_UPSTREAM_BASE``, else the folder
    ``shared/upstream-base`` beside the checkout. Either holds the files at their upstream paths.
    """
    if env := os.environ.get("AIRFLOW_UPSTREAM_BASE"):
        if not Path(env).is_dir():
            raise UpstreamError(f"AIRFLOW_UPSTREAM_BASE={env} is not a folder")
        return Path(env)
    beside = repo.parent / "shared" / "upstream-base"
    return beside if beside.is_dir() else None


def fetch_upstream_file(file: UpstreamFile, mirror: Path | None, cache: Path) -> Path:
    """
    The verified upstream file: the mirror's copy if the mirror holds it, else the one in ``cache``
    (``upstream-files/<commit>/<path>``), downloaded from its pinned URL first if needed.

    A copy that does not match the pin is an error (a bad download is removed); a file that cannot be
    had (not mirrored, and the URL unreachable or not found) raises ``UpstreamUnavailable``.
    """
    if mirror is not None and (source := mirror / file.path).is_file():
        if (actual := sha256_of(source)) != file.sha256:
            raise UpstreamError(
                f"{file.path}: the mirror's copy {source} has sha256 {actual}, but upstream.toml pins "
                f"{file.sha256} (the file at {file.url}). Nothing was built from it."
            )
        return source
    target = cache / "upstream-files" / file.commit / file.path
    if not target.exists():
        where = f"not in the mirror {mirror}; " if mirror is not None else ""
        print(f"Downloading {file.url}", flush=True)
        _download(file.url, target, where)
    if (actual := sha256_of(target)) != file.sha256:
        target.unlink()
        raise UpstreamError(
            f"{file.path}: sha256 is {actual}, but upstream.toml pins {file.sha256} (downloaded from "
            f"{file.url}). The download was removed; nothing was built from it."
        )
    return target


def _download(url: str, target: Path, where: str, timeout: int = 60) -> None:
    """Download ``url`` to ``target`` through a ``.part`` file; a failure raises ``UpstreamUnavailable``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except urllib.error.HTTPError as e:
        partial.unlink(missing_ok=True)
        raise UpstreamUnavailable(f"{where}{url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        partial.unlink(missing_ok=True)
        raise UpstreamUnavailable(f"{where}cannot download {url}: {getattr(e, 'reason', e)}") from None
    partial.rename(target)


def obtain_upstream_files(
    files: list[UpstreamFile], repo: Path, cache: Path
) -> tuple[dict[str, Path], list[Missing]]:
    """Each pinned upstream file that can be had (path -> verified copy), and those that cannot."""
    mirror = upstream_mirror(repo) if files else None
    found: dict[str, Path] = {}
    missing: list[Missing] = []
    for file in files:
        try:
            found[file.path] = fetch_upstream_file(file, mirror, cache)
        except UpstreamUnavailable as e:
            missing.append(Missing(file, str(e)))
    return found, missing


def describe_missing(missing: list[Missing]) -> str:
    """Which upstream files the tree lacks and where to get them, in one line."""
    return (
        f"the upstream file(s) {', '.join(m.file.path for m in missing)} (not in the sdists) could not be "
        f"had; get them from {' and '.join(m.file.url for m in missing)}, or set AIRFLOW_UPSTREAM_BASE "
        "to a folder holding them at those paths"
    )
