"""Build the patched wheels from the assembled tree, stamped with a PEP 440 local version label."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from patched_airflow.pins import Pins

# Where each distribution keeps its version, relative to its monorepo directory.
# PKG-INFO counts too: hatchling reads the version from it when building from an unpacked sdist.
VERSION_FILES = {
    "airflow-core": ["PKG-INFO", "pyproject.toml", "src/airflow/__init__.py"],
    "task-sdk": ["PKG-INFO", "src/airflow/sdk/__init__.py"],
}
# Requirements on another patched distribution, pinned to its patched build.
PATCHED_DEPENDENCIES = {"airflow-core": ["apache-airflow-task-sdk"]}
_VERSION_LINE = re.compile(r'^(version = |__version__ = |Version: )"?([^"+\s]+)"?$', re.MULTILINE)


def stamp_local_version(source: Path, files: list[str], version: str, label: str) -> str:
    """Append ``+label`` to ``version`` where ``files`` declare it; return the new version."""
    local = f"{version}+{label}"
    for name in files:
        path = source / name
        text = path.read_text()
        stamped, count = _VERSION_LINE.subn(
            lambda m: m[0].replace(version, local) if m[2] == version else m[0], text
        )
        if count != 1 or stamped == text:
            raise RuntimeError(f"{path}: expected exactly one version line for {version}")
        path.write_text(stamped)
    return local


def pin_patched_dependency(source: Path, files: list[str], name: str, version: str, local: str) -> None:
    """
    Make ``name==version`` read ``name==local`` in the distribution's requirements.

    The patched core must run with the patched Task SDK: a 3.3.2 Task SDK speaks an older Execution
    API version, which the in-process API of ``dag.test()`` does not serve with its auth bypass.
    """
    # The pin may come with other specifiers of the same requirement: 3.1.8 requires
    # "apache-airflow-task-sdk<1.2.0,==1.1.8".
    requirement = re.compile(rf"({re.escape(name)}(?:[<>!~=]=?[\w.]+,)*)=={re.escape(version)}(?![\w.+])")
    for file in files:
        path = source / file
        pinned, count = requirement.subn(rf"\g<1>=={local}", path.read_text())
        if count != 1:
            raise RuntimeError(f"{path}: expected exactly one requirement {name}=={version}")
        path.write_text(pinned)


def build_wheels(pins: Pins, tree: Path, staging: Path, dist: Path, uv: str) -> list[Path]:
    """Copy each distribution out of ``tree``, stamp its version and build its wheel into ``dist``."""
    dist.mkdir(parents=True, exist_ok=True)
    for old in dist.glob("*.whl"):
        old.unlink()
    if staging.exists():
        shutil.rmtree(staging)
    built = []
    for sdist in pins.sdists:
        source = staging / sdist.directory
        shutil.copytree(tree / sdist.directory, source)
        local = stamp_local_version(source, VERSION_FILES[sdist.directory], sdist.version, pins.local_label)
        for dependency in PATCHED_DEPENDENCIES.get(sdist.directory, []):
            pinned = next(other for other in pins.sdists if other.name == dependency)
            local_dependency = f"{pinned.version}+{pins.local_label}"
            pin_patched_dependency(
                source, ["PKG-INFO", "pyproject.toml"], dependency, pinned.version, local_dependency
            )
        print(f"Building {sdist.name} {local}", flush=True)
        subprocess.run([uv, "build", "--quiet", "--wheel", "--out-dir", str(dist), str(source)], check=True)
        built += sorted(dist.glob(f"{sdist.name.replace('-', '_')}-{local}-*.whl"))
    return built
