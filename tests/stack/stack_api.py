"""
What the tests do to a deployment and read from it: runs, task instances and XComs through the REST
API, a person's clear through the REST API or the CLI, task logs, and XCom rows read with SQL.
``AirflowStack`` inherits it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import sqlalchemy as sa
from stack_config import ATTEMPTS_ARE_ROWS, SQLITE_BUSY_TIMEOUT, TERMINAL_RUN_STATES, StackError


class StackApi:
    """The REST API (as an admin, with a token from ``/auth/token``), the CLI and the metadata
    database of a running deployment. ``AirflowStack`` provides ``base_url``, ``database_url``,
    ``cli`` and ``wait_until``."""

    base_url: str
    database_url: str
    _client: httpx.Client | None = None
    cli: Callable[..., subprocess.CompletedProcess]
    wait_until: Callable[..., Any]

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            token = httpx.get(f"{self.base_url}/auth/token", timeout=30).json()["access_token"]
            self._client = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=SQLITE_BUSY_TIMEOUT + 60,  # longer than a wait for the SQLite lock
            )
        return self._client

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(self, method: str, path: str, expect: Iterable[int] = (200,), **kwargs) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        if response.status_code not in tuple(expect):
            raise StackError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    def get(self, path: str, **params) -> Any:
        return self.request("GET", path, params=params).json()

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None) -> str:
        """Unpause ``dag_id`` and trigger a manual run through the REST API; return its run id."""
        self.unpause(dag_id)
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(
        self, dag_id: str, run_id: str, state: str = "success", timeout: float = 300
    ) -> dict[str, Any]:
        """Wait for the run to reach ``state``; fail at once if it ends in another state."""

        def reached() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            if run["state"] == state:
                return run
            if run["state"] in TERMINAL_RUN_STATES:
                raise AssertionError(
                    f"run {dag_id}/{run_id} ended {run['state']}, expected {state}:\n"
                    + self.describe_run(dag_id, run_id)
                )
            return None

        try:
            return self.wait_until(reached, timeout, f"run {dag_id}/{run_id} to be {state}")
        except StackError as e:
            raise StackError(f"{e}\n{self.describe_run(dag_id, run_id)}") from None

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        suffix = f"/{map_index}" if map_index >= 0 else ""
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{suffix}")

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """Every task instance of the run (of ``task_id``: every map index), following pages."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        if task_id:
            params["task_id"] = task_id
        while True:
            page = self.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", offset=len(found), **params
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def wait_for_ti(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: str | Iterable[str],
        map_index: int = -1,
        timeout: float = 300,
        condition: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Wait until the task instance is in one of ``states`` (and ``condition(ti)`` holds)."""
        wanted = {states} if isinstance(states, str) else set(states)

        def reached() -> dict[str, Any] | None:
            ti = self.task_instance(dag_id, run_id, task_id, map_index)
            if ti["state"] in wanted and (condition is None or condition(ti)):
                return ti
            return None

        try:
            return self.wait_until(reached, timeout, f"{dag_id}/{run_id}/{task_id}[{map_index}] in {wanted}")
        except StackError as e:
            raise StackError(f"{e}\n{self.describe_run(dag_id, run_id)}") from None

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of the task instance (task_instance_history plus the current one)."""
        suffix = f"/{map_index}" if map_index >= 0 else ""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{suffix}/tries"
        return self.get(path)["task_instances"]

    def xcom_keys(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> set[str]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"
        entries = self.get(path, map_index=map_index, limit=100)["xcom_entries"]
        return {entry["key"] for entry in entries}

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom's value through the REST API, or ``MISSING`` if there is no such XCom."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.request("GET", path, expect=(200, 404), params={"map_index": map_index})
        if response.status_code == 404:
            return MISSING
        value = response.json()["value"]
        # Native responses carry the value as stored: JSON text for the standard backend.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def xcom_rows(self) -> list[dict[str, Any]]:
        """Every XCom row in the metadata database, read with SQL: archived attempts' rows too, which
        the REST API does not show. Each has ``dag_id``, ``run_id``, ``task_id``,
        ``try_number`` (from 3.4, the attempt owning an ``xcom_v2`` row; ``None`` for an ``xcom_v1`` row
        and before 3.4), ``key`` and ``value``, the stored JSON decoded. From 3.4 an ``xcom_v2`` row
        whose attempt is gone is listed too, with ``None`` for its attempt's columns."""
        if ATTEMPTS_ARE_ROWS:
            query = (
                "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.try_number, x.key, x.value"
                " FROM xcom_v2 x LEFT JOIN task_instance ti ON ti.id = x.task_instance_id"
                " UNION ALL SELECT dag_id, run_id, task_id, NULL, key, value FROM xcom_v1"
            )
        else:
            query = "SELECT dag_id, run_id, task_id, NULL, key, value FROM xcom"
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text(query)).all()
        finally:
            engine.dispose()
        columns = ("dag_id", "run_id", "task_id", "try_number", "key")
        return [{**dict(zip(columns, row[:-1], strict=True)), "value": _json_value(row[-1])} for row in rows]

    def clear_via_rest(self, dag_id: str, run_id: str, task_ids: list, **body: Any) -> list[dict[str, Any]]:
        """A person's clear through ``POST /api/v2/dags/{dag_id}/clearTaskInstances``.

        ``task_ids`` entries are task ids or ``[task_id, map_index]``. Unlike the API's defaults,
        this clears for real (``dry_run=False``) and whatever the state (``only_failed=False``).
        """
        payload = {"dry_run": False, "only_failed": False, "dag_run_id": run_id, "task_ids": task_ids, **body}
        response = self.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", json=payload)
        return response.json()["task_instances"]

    def clear_via_cli(self, dag_id: str, task_ids: str, *args: str) -> subprocess.CompletedProcess:
        """A person's clear through ``airflow tasks clear -y -t <task_ids> <dag_id>``.

        It clears every run of the Dag unless ``args`` has ``--start-date``/``--end-date`` (which
        match logical dates: a manual run triggered with ``logical_date=None`` has none). Despite
        its help text ("regex"), ``-t`` is a *substring* of the task ids in Airflow 3.3
        (``SerializedDAG.partial_subset``): ``^work$`` matches nothing, and the command still
        exits 0 having cleared nothing.
        """
        return self.cli("tasks", "clear", "-y", "-t", task_ids, *args, dag_id)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request(
            "GET",
            path,
            params={"map_index": map_index, "full_content": True},
            headers={"Accept": "application/x-ndjson"},
        )
        return response.text

    def describe_run(self, dag_id: str, run_id: str) -> str:
        """The run's task instances with state and try number, for failure messages."""
        try:
            tis = self.task_instances(dag_id, run_id)
        except Exception as e:  # the API itself may be what failed
            return f"(cannot list task instances of {dag_id}/{run_id}: {e})"
        states: dict[tuple[str, str, int], int] = {}
        for ti in tis:
            key = (ti["task_id"], ti["state"], ti["try_number"])
            states[key] = states.get(key, 0) + 1
        return "\n".join(
            f"  {task_id}: {count} x state={state} try={try_number}"
            for (task_id, state, try_number), count in sorted(states.items(), key=str)
        )


def _json_value(stored: Any) -> Any:
    """A JSON column's value as Python: SQLite's driver gives the JSON text, PostgreSQL's the decoded
    JSON(B), and a value the serializer had already made JSON text is encoded once more. Decoded until
    it is no longer JSON text (so a string that is itself valid JSON, such as "50", comes back as 50)."""
    while isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            break
    return stored


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
