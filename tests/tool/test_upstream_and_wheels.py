"""Tests of the pins, the sdist verification and the version stamping."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from patched_airflow.building.assemble import _extract_sdist
from patched_airflow.building.fetch import fetch_sdist
from patched_airflow.building.wheels import VERSION_FILES, pin_patched_dependency, stamp_local_version
from patched_airflow.pins import Pins, Sdist, UpstreamError

REPO = Path(__file__).resolve().parents[2]


def test_pins_name_both_distributions_with_sha256():
    pins = Pins.load(REPO / "lines" / "3.3" / "upstream.toml")
    assert {(s.name, s.version, s.directory) for s in pins.sdists} == {
        ("apache-airflow-core", "3.3.2", "airflow-core"),
        ("apache-airflow-task-sdk", "1.3.2", "task-sdk"),
    }
    assert all(len(s.sha256) == 64 and s.url.endswith(".tar.gz") for s in pins.sdists)
    assert set(VERSION_FILES) == {s.directory for s in pins.sdists}


def test_fetch_refuses_a_cached_sdist_with_the_wrong_hash(tmp_path: Path):
    sdist = Sdist("pkg", "1.0", "pkg", "https://example.invalid/pkg-1.0.tar.gz", "0" * 64)
    (tmp_path / "pkg-1.0.tar.gz").write_bytes(b"not the pinned bytes")
    with pytest.raises(UpstreamError, match="sha256 is .* but upstream.toml pins 0000"):
        fetch_sdist(sdist, tmp_path)
    assert not (tmp_path / "pkg-1.0.tar.gz").exists(), "a bad download is not kept"


def test_fetch_accepts_a_cached_sdist_with_the_pinned_hash(tmp_path: Path):
    data = b"pinned bytes"
    sdist = Sdist(
        "pkg", "1.0", "pkg", "https://example.invalid/pkg-1.0.tar.gz", hashlib.sha256(data).hexdigest()
    )
    (tmp_path / "pkg-1.0.tar.gz").write_bytes(data)
    assert fetch_sdist(sdist, tmp_path) == tmp_path / "pkg-1.0.tar.gz"


def test_extract_sdist_strips_the_top_folder(tmp_path: Path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/src/mod.py")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"x=1\n"))
    _extract_sdist(archive, tmp_path / "out" / "pkg")
    assert (tmp_path / "out" / "pkg" / "src" / "mod.py").read_text() == "x=1\n"


def test_stamp_local_version(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "3.3.2"\n')
    (tmp_path / "PKG-INFO").write_text("Metadata-Version: 2.5\nName: x\nVersion: 3.3.2\n")
    (tmp_path / "init.py").write_text('__version__ = "3.3.2"\n')
    local = stamp_local_version(tmp_path, ["pyproject.toml", "PKG-INFO", "init.py"], "3.3.2", "label.1")
    assert local == "3.3.2+label.1"
    assert 'version = "3.3.2+label.1"' in (tmp_path / "pyproject.toml").read_text()
    assert "Metadata-Version: 2.5\nName: x\nVersion: 3.3.2+label.1\n" == (tmp_path / "PKG-INFO").read_text()
    assert (tmp_path / "init.py").read_text() == '__version__ = "3.3.2+label.1"\n'


def test_stamp_refuses_a_file_without_the_expected_version(tmp_path: Path):
    (tmp_path / "init.py").write_text('__version__ = "9.9.9"\n')
    with pytest.raises(RuntimeError, match="expected exactly one version line for 3.3.2"):
        stamp_local_version(tmp_path, ["init.py"], "3.3.2", "label")


def test_pin_patched_dependency(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('dependencies = [\n    "apache-airflow-task-sdk==1.3.2",\n]\n')
    pin_patched_dependency(tmp_path, ["pyproject.toml"], "apache-airflow-task-sdk", "1.3.2", "1.3.2+x.1")
    assert '"apache-airflow-task-sdk==1.3.2+x.1"' in (tmp_path / "pyproject.toml").read_text()
    with pytest.raises(RuntimeError, match="expected exactly one requirement"):
        pin_patched_dependency(tmp_path, ["pyproject.toml"], "apache-airflow-task-sdk", "9.9", "9.9+x")
