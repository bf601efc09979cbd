"""
A deployment's components as processes: start one (``airflow <component>`` in a process group of
its own, output in ``<home>/stack-logs/<component>.log``), signal, kill or stop it; which died,
their log tails, pids and CPU time. ``AirflowStack`` inherits it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from processes import group_of, process_group, processes_below, signal_group, signal_pid
from stack_config import StackError

# The api-server runs the REST API and UI (``--apps core``); "execution-api" is a second api-server
# process with the Execution API the tasks talk to (``--apps execution``). See AirflowStack.__init__.
COMPONENTS = ("api-server", "execution-api", "scheduler", "dag-processor", "triggerer")
APIS = ("execution-api", "api-server")


class StackComponents:
    """The processes of a deployment's components. ``AirflowStack`` provides ``home``, ``logs``,
    ``env``, ``airflow``, ``venvs``, ``components``, the two ports and ``_commands``."""

    home: Path
    logs: Path
    env: dict[str, str]
    airflow: str
    venvs: dict[str, Path]
    components: tuple[str, ...]
    port: int
    execution_port: int
    # {name: (airflow args, env)} of the components started with other commands than their name.
    _commands: dict[str, tuple[list[str], dict[str, str]]]
    processes: dict[str, subprocess.Popen]
    _log_files: dict[str, Any]

    def airflow_command(self, component: str) -> str:
        """The ``airflow`` executable ``component`` runs from: its entry in ``venvs``, else ``venv``'s."""
        return str(self.venvs[component] / "bin" / "airflow") if component in self.venvs else self.airflow

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
