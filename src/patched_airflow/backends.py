"""Database backends for the test suite: SQLite always, PostgreSQL when a server can be had."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"


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


def ensure_available(backend: str) -> str:
    """Make sure ``backend`` can be used (starting a local PostgreSQL if needed); say which server."""
    if backend == "sqlite":
        return "SQLite files in a throwaway AIRFLOW_HOME"
    if url := os.environ.get("AIRFLOW_TEST_POSTGRES_URL"):
        return f"the server at AIRFLOW_TEST_POSTGRES_URL ({urlsplit(url).hostname}), one fresh database per suite"
    if not postgres_answers():
        _start_local_postgres()
    return "the local PostgreSQL server on 127.0.0.1:5432, one fresh database per suite"


def database_url(backend: str, home: Path, name: str) -> str:
    """A fresh database for one suite: a SQLite file in ``home``, or a new database on the server."""
    if backend == "sqlite":
        return f"sqlite:///{home}/{name}.db"
    server = urlsplit(_server_url())
    # Named after the checkout too, so that two clones testing at once do not share a database.
    checkout = hashlib.sha1(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:8]
    database = f"patched_airflow_{checkout}_{name}"
    # psql takes the same URL without SQLAlchemy's driver name.
    maintenance = urlunsplit(server._replace(scheme=server.scheme.split("+")[0]))
    for sql in (f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"'):
        result = subprocess.run(["psql", "-q", maintenance, "-c", sql], capture_output=True, text=True)
        if result.returncode != 0:
            raise BackendUnavailable(f"cannot prepare database {database}: {result.stderr.strip()}")
    return urlunsplit(server._replace(path=f"/{database}"))
