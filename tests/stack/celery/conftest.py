"""
The Celery suite: a CeleryExecutor deployment with a private Redis broker, the metadata database as
Celery's result backend, and two Celery workers of one slot each, so that a task whose worker died is
retried on the other one.

Redis is the one at ``AIRFLOW_TEST_REDIS_URL`` if that is set, else a ``redis-server`` of this
suite's own, on a free port of 127.0.0.1 with no persistence. ``./test.sh`` checks either before the
suite runs (``patched_airflow.backends``); run alone, the suite is skipped if the binary is missing,
and fails under ``CI=true``. A Redis already running on the machine is used only if named so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack import AirflowStack, deployment
from stack_config import StackError, free_port

DAGS = Path(__file__).parent / "dags"
DAG_IDS = ["celery_worker_killed_flagged", "celery_worker_killed_unflagged", "celery_pool_process_killed"]
WORKERS = ("worker-a", "worker-b")

# Each worker's task instances carry its name as their hostname (``[core] hostname_callable``, read
# by the supervisor when the task starts and heartbeats): both workers run on this machine, so the
# default (its FQDN) would not tell them apart in the REST API.
HOSTNAME_MODULE = "e2e_stack_celery_hostname"
HOSTNAME_SOURCE = 'import os\n\n\ndef worker_name():\n    return os.environ["E2E_CELERY_WORKER"]\n'


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(home: Path) -> Iterator[str]:
    """A private ``redis-server`` (no RDB, no AOF, its own directory); yields its URL."""
    if not (binary := shutil.which("redis-server")):
        why = "the celery suite needs the redis-server binary (Debian: apt-get install redis-server)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{why}; nothing may be skipped under CI=true", pytrace=False)
        pytest.skip(why)
    directory = home / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(directory / "redis.log", "ab")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(directory), "--daemonize", "no", "--protected-mode", "yes"]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not redis_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise StackError(
                    f"redis-server did not start: {(directory / 'redis.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def celery_config(broker_url: str, database_url: str) -> dict:
    return {
        "core": {"executor": "CeleryExecutor"},
        "celery": {
            "broker_url": broker_url,
            # The metadata database, as the provider's own default (db+ and the SQLAlchemy URL); on
            # SQLite, Celery's tables go into the same file.
            "result_backend": f"db+{database_url}",
            "worker_concurrency": 1,
            "sync_parallelism": 1,
            # Sending a task to Redis on a loaded machine can take longer than the 1s default.
            "operation_timeout": 10,
        },
        # Said explicitly, to silence the provider's warning; far longer than any test.
        "celery_broker_transport_options": {"visibility_timeout": 86400},
        "scheduler": {
            # As in the faults suite: a task instance whose worker died is failed after 20s.
            "task_instance_heartbeat_timeout": 20,
            "task_instance_heartbeat_timeout_detection_interval": 2,
        },
    }


def worker(name: str) -> tuple[list[str], dict[str, str]]:
    """``airflow celery worker`` named ``name``, one slot: the command and environment of the component."""
    command = ["celery", "worker", "--celery-hostname", name, "--concurrency", "1"]
    # No log server (two workers on one machine would want the same port; the api-server reads the
    # task logs from the shared home), no start-up synchronisation with the other worker.
    command += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
    return command, {
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{HOSTNAME_MODULE}.worker_name",
        "E2E_CELERY_WORKER": name,
    }


def wait_for_workers(stack: AirflowStack, broker_url: str, names, timeout: float = 120) -> None:
    """Wait until every worker in ``names`` answers a Celery ping through the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:

        def answered() -> bool:
            replies = app.control.ping(timeout=1.0) or []
            # Celery names a node "celery@<--celery-hostname>".
            nodes = {node.split("@", 1)[-1] for reply in replies for node in reply}
            return set(names) <= nodes

        stack.wait_until(answered, timeout, f"Celery workers {', '.join(names)} to answer a ping")
    finally:
        app.close()


@pytest.fixture(scope="session")
def workers() -> tuple[str, ...]:
    """The names of the Celery workers (components of the deployment, and their celery hostnames)."""
    return WORKERS


@pytest.fixture(scope="session")
def broker_url(stack_home) -> Iterator[str]:
    if url := os.environ.get("AIRFLOW_TEST_REDIS_URL"):
        yield url
        return
    with redis_server(stack_home("celery-redis")) as url:
        yield url


@pytest.fixture(scope="session")
def stack(venv, stack_home, broker_url):
    home = stack_home("celery")
    database_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{home}/airflow.db"
    config = home / "config"  # on every component's sys.path
    config.mkdir(exist_ok=True)
    (config / f"{HOSTNAME_MODULE}.py").write_text(HOSTNAME_SOURCE)
    with deployment(
        home,
        [DAGS],
        wait_for_dags=DAG_IDS,
        venv=venv,
        database_url=database_url,
        config=celery_config(broker_url, database_url),
        # Started with the other components, each in a process group of its own.
        extra_components={name: worker(name) for name in WORKERS},
    ) as running:
        wait_for_workers(running, broker_url, WORKERS)
        yield running
