"""
Waiting on a deployment: until a predicate holds (failing at once if a component died), until
``/api/v2/monitor/health`` says its components are healthy, until the Execution API answers, and
until the dag-processor has serialized given Dags (import errors fail at once).
``AirflowStack`` inherits it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from stack_config import StackError

# Components reported by /api/v2/monitor/health, by command name.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


class StackWaits:
    """Polling a running deployment. ``AirflowStack`` provides ``base_url``, ``execution_port``,
    ``processes`` and ``check_alive`` (``StackComponents``), ``request`` and ``get`` (``StackApi``)."""

    base_url: str
    execution_port: int
    processes: dict[str, Any]
    check_alive: Callable[[], None]
    request: Callable[..., httpx.Response]
    get: Callable[..., Any]

    def warm_up(self) -> None:
        """The first Execution API request builds its versioned routes (seconds on a busy machine),
        longer than a task's request timeout: make it now, not in the first task."""
        self.wait_until(self.execution_api_answers, 120, "the Execution API to answer")

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
