"""The metadata databases of a benchmark run: one migrated template, a fresh copy of it per probe.

PostgreSQL on 127.0.0.1:5432 (``CREATE DATABASE ... TEMPLATE``) or SQLite (a file copy); every
database is dropped at the end of the run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from patched_airflow.backends import LOCAL_POSTGRES, postgres_answers


class Databases:
    """One migrated template database, and fresh copies of it for each measurement."""

    def __init__(self, repo: Path, work: Path, backend: str):
        self.backend = backend
        self.work = work
        checkout = hashlib.sha1(str(repo).encode()).hexdigest()[:8]
        self.prefix = f"patched_airflow_{checkout}_bench"
        self.created: list[str] = []

    @classmethod
    def choose(cls, repo: Path, work: Path, wanted: str) -> Databases:
        if wanted == "auto":
            wanted = "postgres" if postgres_answers() else "sqlite"
        return cls(repo, work, wanted)

    def _psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            ["psql", "-qtA", LOCAL_POSTGRES.format(database=database).replace("+psycopg2", ""), "-c", sql],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.work / 'db' / name}.db"
        return LOCAL_POSTGRES.format(database=f"{self.prefix}_{name}")

    def server_version(self) -> str:
        if self.backend == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        return "PostgreSQL " + self._psql("SHOW server_version")

    def create_template(self, venv: Path, env: dict[str, str]) -> None:
        """``airflow db migrate`` (vanilla's) into the template database."""
        if self.backend == "sqlite":
            (self.work / "db").mkdir(parents=True, exist_ok=True)
            Path(self.url("template").split("///", 1)[1]).unlink(missing_ok=True)
        else:
            self._drop(f"{self.prefix}_template")
            self._psql(f'CREATE DATABASE "{self.prefix}_template"')
            self.created.append(f"{self.prefix}_template")
        home = self.work / "home-migrate"
        home.mkdir(parents=True, exist_ok=True)
        with open(self.work / "logs" / "migrate.log", "w") as out:
            subprocess.run(
                [str(venv / "bin" / "airflow"), "db", "migrate"],
                env={
                    **env,
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.url("template"),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def fresh(self, name: str) -> str:
        """A new database holding the template's schema; its URL."""
        if self.backend == "sqlite":
            shutil.copyfile(self.url("template").split("///", 1)[1], self.url(name).split("///", 1)[1])
            return self.url(name)
        database = f"{self.prefix}_{name}"
        self._drop(database)
        self._psql(f'CREATE DATABASE "{database}" TEMPLATE "{self.prefix}_template"')
        self.created.append(database)
        return self.url(name)

    def _drop(self, database: str) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def drop_all(self) -> None:
        if self.backend == "sqlite":
            shutil.rmtree(self.work / "db", ignore_errors=True)
            return
        for database in reversed(self.created):
            try:
                self._drop(database)
            except RuntimeError as e:
                print(f"warning: {e}", file=sys.stderr)
        self.created.clear()
