"""
What every deployment shares: the line under test, the settings a deployment starts with (short
intervals, the ``AIRFLOW__SECTION__OPTION`` environment) and the error the harness raises.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from typing import Any

TERMINAL_TI_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}
# What the release under test is: the line's upstream.toml [release], which ./test.sh passes as JSON
# (the tool's loader checks it once; the virtualenv's python need not parse TOML).
_RELEASE_ENV = "PATCHED_AIRFLOW_RELEASE"
if _RELEASE_ENV not in os.environ:
    raise RuntimeError(
        f"{_RELEASE_ENV} is not set: run the deployment suites through ./test.sh --line LINE --suite ..., "
        "which passes the line's [release] facts (lines/<line>/upstream.toml)"
    )
RELEASE = json.loads(os.environ[_RELEASE_ENV])
# Every try is a task_instance row of its own and XComs belong to one attempt: a try that fails with
# retries left is archived at once, and its successor (the next try, no XComs yet) is the task
# instance that waits as up_for_retry (3.4).
ATTEMPTS_ARE_ROWS: bool = RELEASE["attempts_are_rows"]
# The supervisor puts each task process in a process group of its own (apache/airflow#65505) and
# executors retitle it "airflow supervisor: ..."; else it stays in its worker's group (3.1, 3.2).
TASK_PROCESS_GROUPS: bool = RELEASE["task_process_groups"]
# The LocalExecutor notices its dead worker process and fails the task itself, before any heartbeat
# times out (3.4); else the heartbeat timeout fails it.
LOCAL_EXECUTOR_REPORTS_DEAD_WORKERS: bool = RELEASE["local_executor_reports_dead_workers"]
TERMINAL_RUN_STATES = {"success", "failed"}
# Seconds an SQLite writer waits for the lock (pysqlite's default is 5); see _sqlite_busy_timeout.
SQLITE_BUSY_TIMEOUT = 60


class StackError(AssertionError):
    """Something in the stack did not happen in time, or a component died; the message says what."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_config(port: int, execution_port: int, parallelism: int) -> dict[str, dict[str, Any]]:
    """Short intervals and timeouts, so that a test waits seconds, not minutes."""
    return {
        "core": {
            "executor": "LocalExecutor",
            "parallelism": parallelism,
            "load_examples": False,
            "unit_test_mode": False,
            "execution_api_server_url": f"http://127.0.0.1:{execution_port}/execution/",
            "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "simple_auth_manager_all_admins": True,
            "dags_are_paused_at_creation": True,
            "min_serialized_dag_update_interval": 5,
        },
        "api": {
            "host": "127.0.0.1",
            "port": port,
            "workers": 1,
            "secret_key": secrets.token_hex(16),
            # A 500 names the failed statement and the database's error, for the test's report.
            "expose_stacktrace": True,
        },
        "api_auth": {"jwt_secret": secrets.token_hex(32)},
        "scheduler": {
            "scheduler_heartbeat_sec": 2,
            "job_heartbeat_sec": 2,
            "scheduler_idle_sleep_time": 0.5,
            # A task whose worker stopped heartbeating is failed (and retried) after this; the fault
            # tests set it low. On a loaded 2-core machine a healthy task's heartbeat can lag by tens
            # of seconds (SQLite lock waits in the api-server), so the default leaves room.
            "task_instance_heartbeat_timeout": 120,
            "task_instance_heartbeat_timeout_detection_interval": 5,
            # A scheduler whose own heartbeat is older than this is taken for dead, and the task
            # instances it queued are reset (a new try) -- by itself too, when it was merely slow.
            "scheduler_health_check_threshold": 120,
            "orphaned_tasks_check_interval": 30,
            "task_queued_timeout": 300,
            "task_queued_timeout_check_interval": 30,
            "max_tis_per_query": 64,
        },
        # A task's API call waits this long before it gives up and retries; the retry of a call the
        # server did make ends in a 409 (e.g. "TI was not in the running state"), so it must outlast
        # the longest wait for the SQLite lock.
        "workers": {"min_heartbeat_interval": 2, "execution_api_timeout": SQLITE_BUSY_TIMEOUT + 30},
        "dag_processor": {
            "refresh_interval": 5,  # look for new Dag files every 5s (stack.add_dag_file)
            "min_file_process_interval": 60,
            "bundle_refresh_check_interval": 2,
            "parsing_processes": 1,
            "print_stats_interval": 300,
        },
        "triggerer": {"job_heartbeat_sec": 2},
        "logging": {"logging_level": "INFO"},
    }


def config_env(config: dict[str, dict[str, Any]]) -> dict[str, str]:
    def text(value: Any) -> str:
        return str(value) if not isinstance(value, bool) else ("True" if value else "False")

    return {
        f"AIRFLOW__{section.upper()}__{option.upper()}": text(value)
        for section, options in config.items()
        for option, value in options.items()
        if value is not None
    }
