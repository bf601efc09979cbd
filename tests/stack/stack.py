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
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
from processes import group_of, process_group, processes_below, signal_group, signal_pid
from stack_api import StackApi
from stack_config import SQLITE_BUSY_TIMEOUT, StackError, config_env, default_config, free_port

# The api-server runs the REST API and UI (``--apps core``); "execution-api" is a second api-server
# process with the Execution API the tasks talk to (``--apps execution``). See AirflowStack.__init__.
COMPONENTS = ("api-server", "execution-api", "scheduler", "dag-processor", "triggerer")
APIS = ("execution-api", "api-server")
# Components reported by /api/v2/monitor/health, by command name.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


class AirflowStack(StackApi):
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

    # -- processes ---------------------------------------------------------------------------

    def airflow_command(self, component: str) -> str:
        """The ``airflow`` executable ``component`` runs from: its entry in ``venvs``, else ``venv``'s."""
        return str(self.venvs[component] / "bin" / "airflow") if component in self.venvs else self.airflow

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

    def warm_up(self) -> None:
        """The first Execution API request builds its versioned routes (seconds on a busy machine),
        longer than a task's request timeout: make it now, not in the first task."""
        self.wait_until(self.execution_api_answers, 120, "the Execution API to answer")

    def start_component(
        self,
        component: str,
        command: Iterable[str] | None = None,
        env: dict[str, str] | None = None,
        venv: Path | None = None,
    ) -> subprocess.Popen:
        """Start ``airflow <component>``, or a named extra component ``airflow <command>``.

        It runs from ``venv``, which it then keeps, else from its entry in ``venvs``. ``command`` and
        ``env`` (added to ``stack.env``) are remembered under ``component``, so that
        ``restart``/``start_component(component)`` start it the same way again, e.g.
        ``start_component("worker-a", ["celery", "worker", "-H", "worker-a"])``.
        """
        if (process := self.processes.get(component)) and process.poll() is None:
            raise StackError(f"{component} is already running (pid {process.pid})")
        if venv is not None:
            self.venvs[component] = Path(venv)
        if command is not None or env is not None:
            self._commands[component] = (list(command or [component]), dict(env or {}))
        command, extra_env = self._commands.get(component, ([component], {}))
        airflow = self.airflow_command(component)
        log = open(self.logs / f"{component}.log", "ab")  # closed in stop_component
        log.write(f"\n===== starting {airflow} {' '.join(command)} at {time.strftime('%X')}\n".encode())
        log.flush()
        args = [airflow, *command]
        if component == "api-server":
            if "execution-api" in self.components:
                args += ["--apps", "core"]
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        elif component == "execution-api":
            args = [airflow, "api-server", "--apps", "execution", "--host", "127.0.0.1"]
            args += ["--port", str(self.execution_port), "--workers", "1"]
        process = subprocess.Popen(
            args,
            env={**self.env, **extra_env},
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its workers too
        )
        self.processes[component] = process
        self._log_files[component] = log
        return process

    def signal(self, component: str, sig: int) -> None:
        """Send ``sig`` to the component's main process only (e.g. SIGKILL to simulate a crash)."""
        os.kill(self.processes[component].pid, sig)

    def kill(self, component: str, descendants: bool = False) -> list[int]:
        """SIGKILL the component's whole process group, as a machine crash would; no cleanup runs.

        With ``descendants``, also every process below it in other process groups: Airflow 3.3 puts
        each task runner in a group of its own (the supervisor's ``setpgid``, apache/airflow#65505),
        so the group alone leaves the task processes running, orphaned. The component then counts as
        stopped, not dead (``check_alive`` and the teardown report ignore it), until
        ``start_component`` starts it again. Returns the pids killed besides the group.
        """
        process = self.processes[component]
        below = (
            [pid for pid in processes_below([process.pid]) if group_of(pid) != process.pid]
            if descendants
            else []
        )
        signal_group(process.pid, signal.SIGKILL)
        for pid in below:
            signal_pid(pid, signal.SIGKILL)
        process.wait(timeout=30)
        if log := self._log_files.pop(component, None):
            log.close()
        del self.processes[component]
        return below

    def stop_component(self, component: str, grace: float = 20) -> int | None:
        """SIGTERM the component's process group, then SIGKILL what is left after ``grace`` seconds."""
        return self.stop_components([component], grace)[component]

    def stop_components(self, components: Iterable[str], grace: float = 20) -> dict[str, int | None]:
        """``stop_component`` for several components at once: SIGTERM to all, then wait for each."""
        components = list(components)
        stopping: dict[str, tuple[subprocess.Popen, dict[int, int | None]]] = {}
        for component in components:
            if (process := self.processes.get(component)) is None:
                continue
            # Task processes in groups of their own (Airflow 3.3) that outlive their supervisor.
            below = {
                pid: group_of(pid) for pid in processes_below([process.pid]) if group_of(pid) != process.pid
            }
            stopping[component] = (process, below)
            if process.poll() is None:
                signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component, (process, below) in stopping.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Children (task supervisors, uvicorn and parsing workers) may outlive their parent.
            signal_group(process.pid, signal.SIGKILL)
            for pid, pgid in below.items():
                if group_of(pid) == pgid:  # still that process (its group), not a reused pid
                    signal_pid(pid, signal.SIGKILL)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if log := self._log_files.pop(component, None):
                log.close()
        return {
            component: (stopping[component][0].returncode if component in stopping else None)
            for component in components
        }

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

    def dead_components(self) -> dict[str, int]:
        return {
            name: process.returncode for name, process in self.processes.items() if process.poll() is not None
        }

    def check_alive(self) -> None:
        """Raise, with the end of its log, if a component exited."""
        if dead := {n: c for n, c in self.dead_components().items() if n in self._log_files}:
            raise StackError(
                "Airflow component(s) exited: "
                + ", ".join(f"{n} (exit {c})" for n, c in dead.items())
                + "\n"
                + self.log_tails(dead)
            )

    def log_tail(self, component: str, lines: int = 40) -> str:
        path = self.logs / f"{component}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_tails(self, components: Iterable[str] | None = None, lines: int = 40) -> str:
        return "\n".join(
            f"----- {component} ({self.logs / (component + '.log')}), last {lines} lines\n"
            + self.log_tail(component, lines)
            for component in (components or self.processes)
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each component's process group (with reaped children)."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for name, process in self.processes.items():
            total = 0
            for pid in process_group(process.pid):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            used[name] = total / ticks
        return used

    def task_pids(self) -> list[int]:
        """Pids of the task processes (supervisors and tasks) of this deployment's scheduler.

        The executor's workers and supervisors are in the scheduler's process group; the task
        runners have groups of their own since Airflow 3.3, and are found as their children.
        """
        return [pid for pid in self.component_pids("scheduler") if pid != self.processes["scheduler"].pid]

    def component_pids(self, component: str) -> list[int]:
        """The component's process group and every process below it, whatever its group."""
        process = self.processes.get(component)
        if process is None or process.poll() is not None:
            return []
        group = process_group(process.pid)
        return sorted(set(group) | set(processes_below(group)))

    # -- waiting -----------------------------------------------------------------------------

    def wait_until(
        self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail fast if a component dies."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self.check_alive()
            try:
                if result := predicate():
                    return result
                last_error = None
            except (httpx.HTTPError, StackError) as e:
                last_error = e
            if time.monotonic() > deadline:
                detail = f" (last error: {last_error})" if last_error else ""
                raise StackError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
            time.sleep(interval)

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=10)
        response.raise_for_status()
        return response.json()

    def execution_api_answers(self) -> bool:
        response = httpx.get(
            f"http://127.0.0.1:{self.execution_port}/execution/health",
            headers={"Airflow-API-Version": "2026-06-30"},
            timeout=120,
        )
        return response.status_code == 200

    def wait_healthy(self, timeout: float = 180) -> None:
        def healthy() -> bool:
            status = self.health()
            return all(
                (status.get(HEALTH_KEYS[c]) or {}).get("status") == "healthy"
                for c in self.processes
                if c in HEALTH_KEYS
            )

        self.wait_until(healthy, timeout, f"{', '.join(self.processes)} to be healthy", interval=1)

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180) -> None:
        """Wait until the dag-processor has serialized ``dag_ids``, and report import errors."""
        missing = set(dag_ids)

        def parsed() -> bool:
            for dag_id in sorted(missing):
                if self.request("GET", f"/api/v2/dags/{dag_id}", expect=(200, 404)).status_code == 200:
                    missing.discard(dag_id)
            if missing and (errors := self.get("/api/v2/importErrors")["import_errors"]):
                raise AssertionError(f"Dag import errors: {json.dumps(errors, indent=1)[:4000]}")
            return not missing

        self.wait_until(parsed, timeout, f"Dags {sorted(missing)} to be parsed")


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
