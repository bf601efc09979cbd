"""The pinned upstream files: pins, the mirror, and the download against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from patched_airflow.building.fetch import fetch_upstream_file, obtain_upstream_files, upstream_mirror
from patched_airflow.building.series import apply_series
from patched_airflow.pins import Pins, UpstreamError, UpstreamFile

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0" * 40
PATH = "airflow-core/docs/core-concepts/xcoms.rst"
TEXT = b"XComs\n=====\n"


class Server:
    """``http.server`` on 127.0.0.1 serving a folder, counting the requests per path."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)  # the loopback server is asked directly
    root = tmp_path / "served"
    (root / COMMIT / PATH).parent.mkdir(parents=True)
    (root / COMMIT / PATH).write_bytes(TEXT)
    served = Server(root)
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    thread.join()


def pin(server: Server, sha256: str | None = None, path: str = PATH) -> UpstreamFile:
    url = f"{server.url}/{COMMIT}/{path}"
    return UpstreamFile(path, COMMIT, url, sha256 or hashlib.sha256(TEXT).hexdigest())


def test_download_then_cache_hit(server: Server, tmp_path: Path):
    cache = tmp_path / "cache"
    got = fetch_upstream_file(pin(server), None, cache)
    assert got == cache / "upstream-files" / COMMIT / PATH
    assert got.read_bytes() == TEXT
    assert server.requests == [f"/{COMMIT}/{PATH}"]
    assert fetch_upstream_file(pin(server), None, cache) == got
    assert len(server.requests) == 1, "a cached file is not downloaded again"


def test_hash_mismatch_is_refused_and_not_kept(server: Server, tmp_path: Path):
    cache = tmp_path / "cache"
    file = pin(server, sha256="f" * 64)
    with pytest.raises(UpstreamError) as raised:
        fetch_upstream_file(file, None, cache)
    message = str(raised.value)
    assert PATH in message and file.url in message and "f" * 64 in message
    assert hashlib.sha256(TEXT).hexdigest() in message
    assert not [p for p in cache.rglob("*") if p.is_file()], "nothing is left in the cache"


def test_not_found_names_the_url(server: Server, tmp_path: Path):
    cache = tmp_path / "cache"
    file = pin(server, path="airflow-core/docs/absent.rst")
    files, missing = obtain_upstream_files([file], tmp_path / "checkout", cache)
    assert files == {}
    assert [m.file for m in missing] == [file]
    assert file.url in missing[0].reason and "404" in missing[0].reason
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_unreachable_host_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIRFLOW_UPSTREAM_BASE", raising=False)
    file = UpstreamFile(PATH, COMMIT, f"http://127.0.0.1:9/{COMMIT}/{PATH}", "0" * 64)
    files, missing = obtain_upstream_files([file], tmp_path / "checkout", tmp_path / "cache")
    assert files == {} and file.url in missing[0].reason


def test_the_mirror_takes_precedence(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mirror = tmp_path / "mirror"
    (mirror / PATH).parent.mkdir(parents=True)
    (mirror / PATH).write_bytes(TEXT)
    monkeypatch.setenv("AIRFLOW_UPSTREAM_BASE", str(mirror))
    files, missing = obtain_upstream_files([pin(server)], tmp_path / "checkout", tmp_path / "cache")
    assert files == {PATH: mirror / PATH} and missing == []
    assert server.requests == [], "a mirrored file is not downloaded"


def test_a_mirror_beside_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIRFLOW_UPSTREAM_BASE", raising=False)
    (tmp_path / "shared" / "upstream-base").mkdir(parents=True)
    assert upstream_mirror(tmp_path / "checkout") == tmp_path / "shared" / "upstream-base"
    assert upstream_mirror(tmp_path / "elsewhere" / "checkout") is None


def test_a_mirror_without_the_file_falls_back_to_the_download(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("AIRFLOW_UPSTREAM_BASE", str(tmp_path / "mirror"))
    files, missing = obtain_upstream_files([pin(server)], tmp_path / "checkout", tmp_path / "cache")
    assert missing == [] and files[PATH].read_bytes() == TEXT and len(server.requests) == 1
    absent = pin(server, path="airflow-core/docs/absent.rst")
    _, missing = obtain_upstream_files([absent], tmp_path / "checkout", tmp_path / "cache")
    assert f"not in the mirror {tmp_path / 'mirror'}" in missing[0].reason and absent.url in missing[0].reason


def test_a_mirror_copy_with_the_wrong_hash_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "mirror" / PATH).parent.mkdir(parents=True)
    (tmp_path / "mirror" / PATH).write_bytes(b"edited\n")
    monkeypatch.setenv("AIRFLOW_UPSTREAM_BASE", str(tmp_path / "mirror"))
    file = UpstreamFile(PATH, COMMIT, f"https://example.invalid/{COMMIT}/{PATH}", "a" * 64)
    with pytest.raises(UpstreamError, match=f"{'a' * 64}.*{file.url}") as raised:
        obtain_upstream_files([file], tmp_path / "checkout", tmp_path / "cache")
    assert PATH in str(raised.value) and hashlib.sha256(b"edited\n").hexdigest() in str(raised.value)


def test_every_line_pins_its_upstream_files_at_their_raw_url():
    for toml in sorted((REPO / "lines").glob("*/upstream.toml")):
        files = Pins.load(toml).upstream_files
        assert files, toml
        for file in files:
            assert file.url == f"https://raw.githubusercontent.com/apache/airflow/{file.commit}/{file.path}"
            assert len(file.commit) == 40 and len(file.sha256) == 64


def test_a_missing_pin_field_is_named(tmp_path: Path):
    toml = tmp_path / "upstream.toml"
    toml.write_text(
        '[[upstream_file]]\npath = "a"\ncommit = "c"\nsha256 = "s"\n\n[wheels]\nlocal_label = "x"\n'
    )
    with pytest.raises(UpstreamError, match=r"upstream.toml: \[\[upstream_file\]\] #1 has no url"):
        Pins.load(toml)


def test_the_series_applies_without_a_missing_file(tmp_path: Path):
    """``git am --exclude``: a tree without an upstream file gets the rest of each patch."""
    from patched_airflow import git

    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    (work / "src.py").write_text("a = 1\n")
    (work / "docs" / "x.rst").write_text("x\n")
    git.init(work)
    git.commit_all(work, "base")
    (work / "src.py").write_text("a = 2\n")
    (work / "docs" / "x.rst").write_text("y\n")
    git.commit_all(work, "both")
    (work / "docs" / "x.rst").write_text("z\n")
    git.commit_all(work, "docs only")
    line = tmp_path / "line"
    git.run(work, "format-patch", "-q", "-2", "-o", str(line / "patches"))
    (line / "patches" / "series").write_text(
        "".join(f"{p.name}\n" for p in sorted((line / "patches").glob("*.patch")))
    )
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "src.py").write_text("a = 1\n")
    git.init(tree)
    git.commit_all(tree, "pristine")
    git.run(tree, "tag", "pristine")
    assert apply_series(tree, line, exclude=["docs/x.rst"]) == 2
    assert (tree / "src.py").read_text() == "a = 2\n" and not (tree / "docs").exists()
    assert git.run(tree, "rev-list", "--count", "pristine..HEAD").strip() == "2"
