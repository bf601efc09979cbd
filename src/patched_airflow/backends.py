"""
The services the test suites need: the metadata database (SQLite always, PostgreSQL when a server
can be had) and Redis, the Celery suite's broker.

``python -m patched_airflow.backends SERVICE...`` (``postgres``, ``redis``) is the preflight of
``.ci/run``: it starts what the machine has (a stopped local PostgreSQL cluster), installs nothing,
prints one line per service, and exits 1 naming each one that is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
# What each service is called in the lines that say it is missing.
SERVICES = {"postgres": "PostgreSQL", "redis": "Redis"}


class BackendUnavailable(RuntimeError):
    """The backend cannot be used on this machine; the message says why."""


def postgres_answers() -> bool:
    return shutil.which("pg_isready") is not None and (
        subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode == 0
    )


def _start_local_postgres() -> None:
    """Start the Debian cluster if the server is installed but not running."""
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    if not clusters or not shutil.which("pg_ctlcluster"):
        raise BackendUnavailable(
            "no PostgreSQL server answers on 127.0.0.1:5432 and none is installed "
            "(Debian's postgresql package); set AIRFLOW_TEST_POSTGRES_URL to use another server"
        )
    version = clusters[-1].parent.name
    print(f"Starting the installed PostgreSQL {version} cluster", flush=True)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
    for _ in range(30):
        if postgres_answers():
            return
        time.sleep(1)
    raise BackendUnavailable("the installed PostgreSQL cluster did not start within 30s")


def _server_url() -> str:
    """The PostgreSQL server to use, as a SQLAlchemy URL whose database is one to connect to."""
    return os.environ.get("AIRFLOW_TEST_POSTGRES_URL") or LOCAL_POSTGRES.format(database="postgres")


def _psql_url(url: str) -> str:
    """psql takes the same URL without SQLAlchemy's driver name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))


def _connect(url: str, where: str) -> None:
    """Connect to the server at ``url`` with psql, or say why not."""
    if not shutil.which("psql"):
        raise BackendUnavailable("psql, PostgreSQL's client, is not installed (Debian: postgresql-client)")
    result = subprocess.run(
        ["psql", "-Atq", _psql_url(url), "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no message"])[0].removeprefix("psql: error: ")
        raise BackendUnavailable(f"no PostgreSQL server answers at {where}: {first}")


def ensure_postgres() -> str:
    """A PostgreSQL server that answers (starting the local one if it is installed but stopped)."""
    if url := os.environ.get("AIRFLOW_TEST_POSTGRES_URL"):
        parts = urlsplit(url)
        where = f"AIRFLOW_TEST_POSTGRES_URL ({parts.hostname}:{parts.port or 5432})"
        _connect(url, where)
        return f"the server at {where}, one fresh database per suite"
    if not postgres_answers():
        _start_local_postgres()
    _connect(_server_url(), "127.0.0.1:5432")
    return "the local PostgreSQL server on 127.0.0.1:5432, one fresh database per suite"


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") and (chunk := sock.recv(256)):
        data += chunk
    return data


def redis_answers(url: str) -> str:
    """Why the Redis at ``url`` does not answer a PING (after AUTH if the URL has a password); "" if it does."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5) as sock:
            if parts.password:
                user = f"{parts.username} " if parts.username else ""
                sock.sendall(f"AUTH {user}{parts.password}\r\n".encode())
                if not (reply := _reply(sock)).startswith(b"+OK"):
                    return f"AUTH answered {reply.strip().decode(errors='replace')!r}"
            sock.sendall(b"PING\r\n")
            reply = _reply(sock)
    except OSError as e:
        return str(e)
    return "" if reply.startswith(b"+PONG") else f"PING answered {reply.strip().decode(errors='replace')!r}"


def ensure_redis() -> str:
    """The Redis at AIRFLOW_TEST_REDIS_URL if set and answering, else a ``redis-server`` to start one from."""
    if url := os.environ.get("AIRFLOW_TEST_REDIS_URL"):
        parts = urlsplit(url)
        where = f"AIRFLOW_TEST_REDIS_URL ({parts.hostname}:{parts.port or 6379})"
        if why := redis_answers(url):
            raise BackendUnavailable(f"no Redis answers at {where}: {why}")
        return f"the Redis at {where}"
    if not (binary := shutil.which("redis-server")):
        raise BackendUnavailable(
            "no redis-server on PATH (Debian: apt-get install redis-server), and AIRFLOW_TEST_REDIS_URL is not set"
        )
    result = subprocess.run([binary, "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        raise BackendUnavailable(f"{binary} --version exited {result.returncode}: {result.stderr.strip()}")
    return f"a private redis-server per suite ({result.stdout.split(' sha=')[0].strip()}, {binary})"


def ensure_service(name: str) -> str:
    """Make sure the service ``name`` (a key of SERVICES) can be used; say which one. BackendUnavailable if not."""
    return {"postgres": ensure_postgres, "redis": ensure_redis}[name]()


def database_url(backend: str, home: Path, name: str) -> str:
    """A fresh database for one suite: a SQLite file in ``home``, or a new database on the server."""
    if backend == "sqlite":
        return f"sqlite:///{home}/{name}.db"
    server = urlsplit(_server_url())
    # Named after the checkout too, so that two clones testing at once do not share a database.
    checkout = hashlib.sha1(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:8]
    database = f"patched_airflow_{checkout}_{name}"
    for sql in (f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"'):
        result = subprocess.run(
            ["psql", "-q", _psql_url(_server_url()), "-c", sql], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise BackendUnavailable(f"cannot prepare database {database}: {result.stderr.strip()}")
    return urlunsplit(server._replace(path=f"/{database}"))


def main(names: list[str]) -> int:
    """The preflight: each named service made ready, or one line naming it as missing; 1 if any is."""
    if not names or any(name not in SERVICES for name in names):
        print(f"usage: python -m patched_airflow.backends {{{','.join(SERVICES)}}}...", file=sys.stderr)
        return 2
    missing = 0
    for name in names:
        try:
            print(f"{SERVICES[name]}: {ensure_service(name)}", flush=True)
        except BackendUnavailable as e:
            print(f"MISSING: {SERVICES[name]}: {e}", flush=True)
            missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
