"""
A service a suite needs missing from the machine (PostgreSQL's server, Redis): under ``CI=true`` the
run fails with a line naming it, before anything is built; outside CI the suite is reported skipped.
Real processes throughout: ``./test.sh``'s tool on a closed loopback port, or without
``redis-server`` on its PATH.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patched_airflow.backends import redis_answers

REPO = Path(__file__).resolve().parents[2]
SERVICE_VARIABLES = ("CI", "AIRFLOW_TEST_POSTGRES_URL", "AIRFLOW_TEST_REDIS_URL")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool(*args: str, ci: bool, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m patched_airflow ARGS`` with the service variables given here only."""
    base = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "patched_airflow", *args],
        cwd=REPO,
        env={**base, **({"CI": "true"} if ci else {}), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "outside-ci"])
def test_postgresql_that_does_not_answer(ci: bool):
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/postgres"
    run = tool(
        "test",
        "--line",
        "3.3",
        "--backend",
        "postgres",
        "--suite",
        "core",
        ci=ci,
        AIRFLOW_TEST_POSTGRES_URL=url,
    )
    missing = r"PostgreSQL is missing: no PostgreSQL server answers at AIRFLOW_TEST_POSTGRES_URL \(127\.0\.0\.1:\d+\)"
    if ci:
        assert run.returncode == 1, run.stdout + run.stderr
        assert re.search(rf"^=== core: FAILED: {missing}", run.stdout, re.M), run.stdout
        assert re.search(
            rf"^  core +FAILED \({missing}.*nothing may be skipped under CI=true", run.stdout, re.M
        )
    else:
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(rf"^=== core: SKIPPED: {missing}", run.stdout, re.M), run.stdout
        assert re.search(rf"^  core +skipped \({missing}", run.stdout, re.M)
    assert "passed" not in run.stdout


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "outside-ci"])
def test_redis_that_does_not_answer(ci: bool):
    url = f"redis://127.0.0.1:{closed_port()}/0"
    run = tool("test", "--line", "3.3", "--suite", "celery", ci=ci, AIRFLOW_TEST_REDIS_URL=url)
    assert run.returncode == (1 if ci else 0), run.stdout + run.stderr
    status = "FAILED" if ci else "SKIPPED"
    assert re.search(
        rf"^=== celery: {status}: Redis is missing: no Redis answers at AIRFLOW_TEST_REDIS_URL",
        run.stdout,
        re.M,
    ), run.stdout


@pytest.mark.parametrize("ci", [True, False], ids=["ci", "outside-ci"])
def test_no_redis_server_on_the_path(ci: bool, tmp_path: Path):
    run = tool("test", "--line", "3.3", "--suite", "celery", ci=ci, PATH=str(tmp_path))
    assert run.returncode == (1 if ci else 0), run.stdout + run.stderr
    status = "FAILED" if ci else "skipped"
    assert re.search(rf"^  celery +{status} \(Redis is missing: no redis-server on PATH", run.stdout, re.M), (
        run.stdout
    )


def test_the_preflight_names_each_missing_service(tmp_path: Path):
    run = subprocess.run(
        [sys.executable, "-m", "patched_airflow.backends", "postgres", "redis"],
        env={
            "PATH": str(tmp_path),  # no psql, no redis-server
            "AIRFLOW_TEST_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "MISSING: PostgreSQL: psql, PostgreSQL's client, is not installed (Debian: postgresql-client)",
        "MISSING: Redis: no redis-server on PATH (Debian: apt-get install redis-server), "
        "and AIRFLOW_TEST_REDIS_URL is not set",
    ]


@contextlib.contextmanager
def redis_server(directory: Path, *extra: str) -> Iterator[int]:
    """A real redis-server on a free loopback port, with no persistence."""
    port = closed_port()
    args = [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    process = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", *args, *extra], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        # Started once it answers, if only to say that it wants a password.
        while (why := redis_answers(f"redis://127.0.0.1:{port}/0")) and "NOAUTH" not in why:
            assert process.poll() is None and time.monotonic() < deadline, (
                f"redis-server did not start: {why}"
            )
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server binary")
def test_a_redis_that_answers(tmp_path: Path):
    with redis_server(tmp_path, "--requirepass", "s3cret") as port:
        assert redis_answers(f"redis://:s3cret@127.0.0.1:{port}/0") == ""
        assert "WRONGPASS" in redis_answers(f"redis://:wrong@127.0.0.1:{port}/0")
        assert "NOAUTH" in redis_answers(f"redis://127.0.0.1:{port}/0")
        run = subprocess.run(
            [sys.executable, "-m", "patched_airflow.backends", "redis"],
            env={"PATH": str(tmp_path), "AIRFLOW_TEST_REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == f"Redis: the Redis at AIRFLOW_TEST_REDIS_URL (127.0.0.1:{port})\n"
