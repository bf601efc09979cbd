"""Fetching the pinned upstream sources, each verified against its sha256 before anything uses it."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from patched_airflow.building.pins import Sdist, UpstreamError


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
