"""
A real Airflow deployment for end-to-end tests, in the spirit of breeze's ``start-airflow``.

``AirflowStack`` runs the installed ``airflow`` command on a throwaway ``AIRFLOW_HOME`` and a
metadata database (SQLite or PostgreSQL): ``airflow db migrate``, then the api-server (REST API and
UI), a second api-server process for the Execution API, the scheduler (LocalExecutor), the
dag-processor and the triggerer as subprocesses, each in its own process group with its output in
``<home>/stack-logs/<component>.log``. The REST API is used with a token from
``/auth/token`` (SimpleAuthManager, all users admins).

Typical use (``conftest.py`` does this once per test session)::

    stack = AirflowStack(home, dags=[Path("tests/stack/contract/dags")])
    stack.start()  # db migrate, the four components, wait until healthy and the Dags are parsed
    run_id = stack.trigger("my_dag", conf={...})
    stack.wait_for_run("my_dag", run_id)
    assert stack.xcom("my_dag", run_id, "my_task", "checkpoint") == 100
    stack.stop()

Fault injection builds on ``kill``/``signal``/``restart`` of a component, ``task_pids`` and
``config`` (any ``[section] option`` as ``{"section": {"option": value}}``).

Mixed versions: ``venvs={"api-server": other_venv}`` runs a component from another virtualenv than
``venv`` (with the LocalExecutor, task processes run in the scheduler's); ``restart(name, venv=...)``
moves a running component to another one.

This module holds the deployment as a whole: its home, configuration and environment, and starting
and stopping it; ``deployment`` runs one for a test session. ``AirflowStack`` inherits the rest:
``StackComponents`` (``stack_components.py``, each component's processes), ``StackWaits``
(``stack_waits.py``, polling until healthy, parsed or any condition) and ``StackApi``
(``stack_api.py``, what tests do through the REST API, the CLI and the database).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
from stack_api import StackApi
from stack_components import APIS, COMPONENTS, StackComponents
from stack_config import SQLITE_BUSY_TIMEOUT, StackError, config_env, default_config, free_port
from stack_waits import StackWaits

__all__ = ["APIS", "COMPONENTS", "LIVE", "TEARDOWN_PROBLEMS", "AirflowStack", "deployment", "free_port"]


class AirflowStack(StackComponents, StackWaits, StackApi):
    """An Airflow deployment of real processes on a throwaway home; see the module docstring."""

    def __init__(
        self,
        home: Path,
        dags: Iterable[Path] = (),
        *,
        venv: Path | None = None,
        venvs: dict[str, Path] | None = None,
        database_url: str | None = None,
        parallelism: int = 4,
        config: dict[str, dict[str, Any]] | None = None,
        components: Iterable[str] = COMPONENTS,
        extra_components: dict[str, tuple[Iterable[str], dict[str, str]]] | None = None,
    ):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir(exist_ok=True)
        for source in dags:
            self._copy_dags(Path(source))
        self.state_dir = self.home / "task-state"  # for files tasks wait on or count with
        self.state_dir.mkdir(exist_ok=True)
        self.logs = self.home / "stack-logs"
        self.logs.mkdir(exist_ok=True)
        venv = venv or Path(os.environ.get("PATCHED_AIRFLOW_VENV") or Path(sys.executable).parents[1])
        self.venv = Path(venv)
        self.venvs = {component: Path(path) for component, path in (venvs or {}).items()}  # else venv
        self.airflow = str(self.venv / "bin" / "airflow")
        self.database_url = (
            database_url
            or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
            or f"sqlite:///{self.home}/airflow.db"
        )
        self.backend = self.database_url.split(":", 1)[0].split("+", 1)[0]
        # With an "execution-api" component (the default), two api-server processes, as a deployment
        # that scales them apart has; without it the api-server serves both. On SQLite one process
        # serving both can stall itself for the busy timeout. The audit log of a REST write (an async
        # dependency in api_fastapi/logging/decorators.py) commits with the blocking sync session on
        # the event loop, so a task's Execution API request in the same process that holds the write
        # lock cannot commit until the audit insert gives up: 60s in which every writer waits, then
        # 500s for the REST write and for the tasks' calls (seen here, upstream 3.3.2).
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # Named components of other commands, started with the others: {name: (airflow args, env)}.
        self._commands = {
            name: (list(args), dict(env)) for name, (args, env) in (extra_components or {}).items()
        }
        self.components = (*components, *self._commands)
        self.execution_port = free_port() if "execution-api" in self.components else self.port
        self.config = default_config(self.port, self.execution_port, parallelism)
        for section, options in (config or {}).items():
            self.config.setdefault(section, {}).update(options)
        self.config["core"]["dags_folder"] = str(self.dags_folder)
        self.config.setdefault("database", {})["sql_alchemy_conn"] = self.database_url
        if self.backend == "sqlite":
            self._sqlite_busy_timeout()
        self.env = self._environment()
        self.processes: dict[str, subprocess.Popen] = {}
        self._log_files: dict[str, Any] = {}
        self._client: httpx.Client | None = None

    # -- environment -------------------------------------------------------------------------

    def _sqlite_busy_timeout(self, seconds: int = SQLITE_BUSY_TIMEOUT) -> None:
        """Let SQLite writers wait for the lock longer than pysqlite's default 5 seconds.

        Five components write to one file; on a busy machine a scheduler transaction can hold the
        lock for more than 5s, and the api-server then fails the task instance whose state update
        hit "database is locked" (``ti_update_state`` marks it FAILED on any error, ignoring
        retries). ``$AIRFLOW_HOME/config`` is on every component's ``sys.path``.
        """
        config = self.home / "config"
        config.mkdir(exist_ok=True)
        (config / "e2e_stack_sqlite.py").write_text(
            f'CONNECT_ARGS = {{"timeout": {seconds}}}\nCONNECT_ARGS_ASYNC = {{"timeout": {seconds}}}\n'
        )
        self.config["database"].setdefault("sql_alchemy_connect_args", "e2e_stack_sqlite.CONNECT_ARGS")
        self.config["database"].setdefault(
            "sql_alchemy_connect_args_async", "e2e_stack_sqlite.CONNECT_ARGS_ASYNC"
        )

    def _copy_dags(self, source: Path) -> None:
        files = [source] if source.is_file() else sorted(source.glob("*.py"))
        for path in files:
            shutil.copy2(path, self.dags_folder / path.name)

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            # The suite runner's settings for other suites (unit test mode, the compat harness on
            # PYTHONPATH) and any Airflow setting of the caller's do not leak into the deployment.
            if not key.startswith("AIRFLOW__") and key not in {"PYTHONPATH", "AIRFLOW_CONFIG"}
        }
        env.update(config_env(self.config))
        env["AIRFLOW_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def configure(self, config: dict[str, dict[str, Any]]) -> None:
        """Change settings (as ``config=``) for what starts from now on: restart the components concerned."""
        for section, options in config.items():
            self.config.setdefault(section, {}).update(options)
        self.env = self._environment()

    def add_dag_file(self, path: Path | str, text: str | None = None) -> Path:
        """Copy a Dag file (or write ``text`` under that name) into the dags folder."""
        target = self.dags_folder / Path(path).name
        if text is None:
            shutil.copy2(path, target)
        else:
            target.write_text(text)
        return target

    # -- the deployment as a whole -----------------------------------------------------------

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300, venv: Path | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``airflow <args>`` against this deployment (from ``venv``, default the deployment's)."""
        airflow = str(Path(venv) / "bin" / "airflow") if venv else self.airflow
        result = subprocess.run(
            [airflow, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise StackError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def migrate(self) -> None:
        self.cli("db", "migrate", timeout=900)

    def start(self, timeout: float = 300, wait_for_dags: Iterable[str] = ()) -> AirflowStack:
        """``db migrate``, start every component, wait until healthy and ``wait_for_dags`` are parsed."""
        started = time.monotonic()
        self.migrate()
        for component in self.components:
            self.start_component(component)
        self.wait_healthy(timeout=max(30.0, timeout - (time.monotonic() - started)))
        self.warm_up()
        if wait_for_dags:
            self.wait_for_dags(wait_for_dags, timeout=max(60.0, timeout - (time.monotonic() - started)))
        return self

    def restart(self, component: str, timeout: float = 120, venv: Path | None = None) -> None:
        self.stop_component(component)
        self.start_component(component, venv=venv)
        self.wait_healthy(timeout=timeout)
        if component == "api-server":
            self.close_client()  # its connections were to the process that was stopped
        if component in ("api-server", "execution-api"):
            self.warm_up()

    def stop(self) -> dict[str, int | None]:
        """Stop every component: those that own task processes first (the scheduler, extra components
        such as Celery workers), then the triggerer and dag-processor, the API last; each tier at once.
        """
        tiers = [
            [c for c in self.processes if c not in ("triggerer", "dag-processor", *APIS)],
            [c for c in ("triggerer", "dag-processor") if c in self.processes],
            [c for c in APIS if c in self.processes],
        ]
        codes: dict[str, int | None] = {}
        for tier in tiers:
            codes.update(self.stop_components(tier))
        self.close_client()
        return codes


# Deployments running in this pytest session (conftest.py adds their log tails to failure reports),
# and what went wrong when one stopped.
LIVE: list[AirflowStack] = []
TEARDOWN_PROBLEMS: list[str] = []


@contextlib.contextmanager
def deployment(
    home: Path, dags: Iterable[Path] = (), wait_for_dags: Iterable[str] = (), **kwargs: Any
) -> Iterator[AirflowStack]:
    """Start an ``AirflowStack`` (``kwargs`` as for the class), yield it, stop it whatever happens.

    A component that died during the session, or exited badly when stopped, is recorded in
    ``TEARDOWN_PROBLEMS`` with the end of every log; the session summary prints them.
    """
    stack = AirflowStack(home, dags, **kwargs)
    LIVE.append(stack)
    try:
        stack.start(wait_for_dags=wait_for_dags)
        yield stack
    finally:
        dead = stack.dead_components()
        codes = stack.stop()
        LIVE.remove(stack)
        if dead or any(code not in (0, -15, None) for code in codes.values()):
            TEARDOWN_PROBLEMS.append(
                f"{stack.home}: died during the session: {dead}; exit codes at teardown: {codes}\n"
                + stack.log_tails()
            )
