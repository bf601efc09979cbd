"""
The upstream release lines this project builds, one folder each under ``lines/``.

A line is the kernel stable-queue's "queue" folder: ``lines/<name>/upstream.toml`` (the pinned sdists,
the pinned upstream files the series edits that the sdists lack, the wheels' local label, the upstream test modules the series
touches, what the release is), ``lines/<name>/patches/`` (the series) and
``lines/<name>/added/`` (the files the series adds, at their monorepo paths below it).
``lines/lines.toml`` says which line is the default build and which one the upstream pull request
comes from. Everything a line builds goes to ``build/<name>/`` and ``dist/<name>/``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from patched_airflow.pins import Pins, UpstreamError

# This repository's root.
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class UpstreamTests:
    """Upstream test modules of one distribution that a line's series touches, run by the harness."""

    paths: list[str]
    # Pre-existing upstream tests in those modules that need what the harness does not provide,
    # each with the reason; printed when the suite runs.
    deselect: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Release:
    """
    ``[release]`` of ``upstream.toml``: what the upstream release is, stated once instead of derived from
    its version number. The tool reads it, and passes it to the deployment suites (``PATCHED_AIRFLOW_RELEASE``,
    see ``as_env``) and the benchmark probes.
    """

    # Every try of a task instance is a task_instance row of its own (an attempt) that owns its XComs
    # (xcom_v2); there is no task_instance_history. False: task_instance holds the latest try,
    # task_instance_history the earlier ones, and XComs are keyed by (dag_id, task_id, run_id, map_index).
    attempts_are_rows: bool
    # The supervisor puts each task process in a process group of its own (apache/airflow#65505).
    task_process_groups: bool
    # The LocalExecutor reports the task of a worker process that died as failed itself, before the
    # task's heartbeat times out.
    local_executor_reports_dead_workers: bool
    # Tasks have a task state store (``task_state_store`` in their context).
    task_state_store: bool
    # The Execution API version the patched Task SDK reports (``API_VERSION`` of its generated client).
    execution_api_version: str

    @classmethod
    def parse(cls, table: object, where: str) -> Release:
        """The ``[release]`` table; a missing, ill-typed or unknown key is an error naming file and key."""
        if not isinstance(table, dict):
            raise UpstreamError(f"{where}: no [release] table; add one (see lines/3.3/upstream.toml)")
        values = {}
        for name, kind in cls.__annotations__.items():
            expected = {"bool": bool, "str": str}[kind]
            if name not in table:
                raise UpstreamError(f"{where}: [release] has no {name} (a {kind}); add it")
            if not isinstance(table[name], expected):
                raise UpstreamError(f"{where}: [release] {name} = {table[name]!r} is not a {kind}")
            values[name] = table[name]
        if unknown := sorted(set(table) - set(cls.__annotations__)):
            raise UpstreamError(f"{where}: [release] has unknown keys {', '.join(unknown)}")
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The facts as one environment variable, for tests that run in a line's virtualenv."""
        return {"PATCHED_AIRFLOW_RELEASE": json.dumps(asdict(self), sort_keys=True)}


@dataclass(frozen=True)
class Line:
    name: str
    folder: Path
    build: Path
    dist: Path

    @cached_property
    def pins(self) -> Pins:
        return Pins.load(self.folder / "upstream.toml")

    @cached_property
    def config(self) -> dict:
        return tomllib.loads((self.folder / "upstream.toml").read_text())

    @cached_property
    def release(self) -> Release:
        return Release.parse(self.config.get("release"), str(self.folder / "upstream.toml"))

    @property
    def added(self) -> Path:
        """Where the files the series adds are kept, at their monorepo paths below it."""
        return self.folder / "added"

    @property
    def tests(self) -> dict[str, UpstreamTests]:
        return {name: UpstreamTests(**entry) for name, entry in self.config.get("tests", {}).items()}

    @property
    def upgrade_from(self) -> str | None:
        """The earlier line a deployment upgrades from in the ``upgrade`` suite (``[upgrade] from_line``)."""
        return self.config.get("upgrade", {}).get("from_line")

    @property
    def _venv(self) -> dict:
        return self.config.get("venv", {})

    @property
    def exclude_newer(self) -> str | None:
        """
        ``[venv].exclude_newer`` of ``upstream.toml``: resolve the release's dependencies as of that date.

        Upstream installs a release with the constraints file of its release day; a line whose release
        no longer imports with today's dependencies says when that was (an RFC 3339 timestamp).
        """
        return self._venv.get("exclude_newer")

    @property
    def exclude_newer_packages(self) -> dict[str, str]:
        """
        ``[venv].exclude_newer_package``: a date of its own for some distributions (uv's
        ``--exclude-newer-package``), for a fix released after the line's ``exclude_newer``.
        """
        return dict(self._venv.get("exclude_newer_package", {}))

    @property
    def venv_requirements(self) -> list[str]:
        """``[venv].requirements``: what the line's virtualenvs need beyond the release (version bounds)."""
        return list(self._venv.get("requirements", []))

    @property
    def patches(self) -> Path:
        return self.folder / "patches"

    @property
    def airflow_version(self) -> str:
        """The ``apache-airflow`` release the wheels install beside: the core sdist's version."""
        return next(s.version for s in self.pins.sdists if s.directory == "airflow-core")

    @property
    def tree(self) -> Path:
        return self.build / "tree"

    @property
    def venv(self) -> Path:
        return self.build / "venv"

    @property
    def vanilla_venv(self) -> Path:
        return self.build / "venv-vanilla"

    @property
    def wheels(self) -> list[Path]:
        return sorted(self.dist.glob("*.whl"))

    @property
    def sdist_cache(self) -> Path:
        """Where the verified sdists (and other fetched upstream files) are kept, shared by every line."""
        return self.build.parent / "sdists"

    @property
    def upstream_pr(self) -> Path:
        return self.dist / "upstream-pr"


@dataclass(frozen=True)
class Lines:
    """Every line, in version order, with the two roles ``lines/lines.toml`` gives."""

    lines: dict[str, Line]
    default: str
    upstream_pr: str

    @classmethod
    def load(cls, repo: Path) -> Lines:
        config = tomllib.loads((repo / "lines" / "lines.toml").read_text())
        folders = sorted(
            (p.parent for p in (repo / "lines").glob("*/upstream.toml")),
            key=lambda folder: tuple(int(part) for part in folder.name.split(".")),
        )
        lines = {
            folder.name: Line(folder.name, folder, repo / "build" / folder.name, repo / "dist" / folder.name)
            for folder in folders
        }
        for role in ("default", "upstream_pr"):
            if config.get(role) not in lines:
                raise UpstreamError(
                    f"lines/lines.toml: {role} = {config.get(role)!r} is not one of the lines "
                    f"({', '.join(lines) or 'none'})"
                )
        return cls(lines, config["default"], config["upstream_pr"])

    def select(self, names: list[str] | None) -> list[Line]:
        """The named lines (every line when none is named); an unknown name is an error naming the lines."""
        if not names:
            return list(self.lines.values())
        if unknown := [name for name in names if name not in self.lines]:
            raise UpstreamError(f"no line {', '.join(unknown)}; the lines are {', '.join(self.lines)}")
        return [self.lines[name] for name in self.lines if name in names]

    def one(self, name: str | None) -> Line:
        """The named line, or the default one."""
        return self.select([name or self.default])[0]
