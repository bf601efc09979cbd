"""Running the probes: each a script of ``probes/`` run with one installation's python.

A probe gets its arguments as one JSON argument and prints JSON; its stderr goes to
``build/bench/<line>/<profile>/logs/``. Every probe also gets ``attempt_model``: how the line's tables
record the tries of a task (``probes/tables.py``, from the line's ``[release]``), for the probes that
read them with SQL; and the ``[release]`` facts themselves in ``PATCHED_AIRFLOW_RELEASE``, as the
deployment suites do, for ``stack_run.py``'s harness (``tests/stack``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from patched_airflow.bench.databases import Databases
from patched_airflow.bench.probes.tables import attempt_model
from patched_airflow.lines import Release

PROBES = Path(__file__).parent / "probes"
VARIANTS = ("vanilla", "patched")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%X')}] {message}", flush=True)


def interleaved(rounds: int) -> list[tuple[str, str]]:
    """ABAB with the first of each pair swapping: vanilla, patched, patched, vanilla, ..."""
    return [VARIANTS if i % 2 == 0 else VARIANTS[::-1] for i in range(rounds)]


class Runner:
    def __init__(
        self, repo: Path, venvs: dict[str, Path], work: Path, databases: Databases, release: Release
    ):
        self.repo = repo
        self.venvs = venvs
        self.work = work
        self.databases = databases
        self.release = release
        self.attempt_model = attempt_model(release.attempts_are_rows)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AIRFLOW") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        self.env.update(
            {
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "PYTHONUNBUFFERED": "1",
                **release.as_env(),
            }
        )
        self._count = 0
        self._lock = threading.Lock()

    def probe_env(self, name: str, database: str | None) -> tuple[dict[str, str], Path]:
        self._count += 1
        home = self.work / "homes" / f"{self._count:02d}-{name}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        env = {**self.env, "AIRFLOW_HOME": str(home)}
        if database is not None:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.databases.fresh(database)
        return env, home

    def command(self, variant: str, probe: str, args: dict[str, Any]) -> list[str]:
        args = {**args, "attempt_model": self.attempt_model}
        return [str(self.venvs[variant] / "bin" / "python"), str(PROBES / probe), json.dumps(args)]

    def run(
        self,
        variant: str,
        probe: str,
        args: dict[str, Any],
        database: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        name = f"{probe.removesuffix('.py')}-{variant}"
        with self._lock:
            env, home = self.probe_env(name, database)
        env.update(extra_env or {})
        args = {**args, "home": str(home)}
        with open(self.work / "logs" / f"{home.name}.log", "w") as err:
            result = subprocess.run(
                self.command(variant, probe, args), env=env, stdout=subprocess.PIPE, stderr=err, text=True
            )
        if result.returncode != 0:
            raise RuntimeError(f"{probe} ({variant}) exited {result.returncode}; see {err.name}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, variant: str, probe: str, args: dict[str, Any], database: str) -> Session:
        name = f"{probe.removesuffix('.py')}-{variant}"
        with self._lock:
            env, home = self.probe_env(name, database)
        err = open(self.work / "logs" / f"{home.name}.log", "w")  # closed by Session.close
        process = subprocess.Popen(
            self.command(variant, probe, args),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        return Session(process, err)


class Session:
    """A probe that answers one JSON line per command line (``ti_run.py``)."""

    def __init__(self, process: subprocess.Popen, err):
        self.process = process
        self.err = err

    def read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"probe exited {self.process.returncode}; see {self.err.name}")
        return json.loads(line)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.err.close()


class Background:
    """A function run in a thread; ``join`` returns its result or raises its exception."""

    def __init__(self, function):
        self._function = function
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self._result = self._function()
        except BaseException as e:
            self._error = e

    def start(self) -> None:
        self._thread.start()

    def join(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


class LoadSampler:
    """The 1-minute load average every 10 seconds while the benchmark runs."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(10):
            try:
                self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            except OSError:
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()


def machine() -> str:
    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    memory = ""
    try:
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu or platform.machine()}){memory}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"
