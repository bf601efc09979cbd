"""
The fault-injection suite: one LocalExecutor deployment on the suite's database, with heartbeat and
orphan timeouts low enough that a killed worker or scheduler costs seconds, not minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stack import deployment
from stack_config import free_port

DAGS = Path(__file__).parent / "dags"
DAG_IDS = ["faults_worker_killed", "faults_task_process_killed", "faults_scheduler_killed"]

CONFIG = {
    "scheduler": {
        # A task instance whose heartbeat is older than this is failed (and retried). stack.py's 120s
        # leaves room for a loaded machine running hundreds of tasks; here at most three tasks run
        # at a time, and their supervisors heartbeat every 2s.
        "task_instance_heartbeat_timeout": 20,
        "task_instance_heartbeat_timeout_detection_interval": 2,
        # A scheduler whose heartbeat (every 2s) is older than this is taken for dead, and a new
        # scheduler resets the task instances it had queued. Low, so that the restarted scheduler
        # resets the killed one's tasks soon after it starts.
        "scheduler_health_check_threshold": 15,
        "orphaned_tasks_check_interval": 5,
    },
    # The scheduler serves task logs on this port (LocalExecutor); other deployments on the machine
    # would hold the default 8793.
    "logging": {"worker_log_server_port": free_port()},
}


@pytest.fixture(scope="session")
def stack(venv, stack_home):
    with deployment(
        stack_home("faults"), [DAGS], wait_for_dags=DAG_IDS, venv=venv, parallelism=4, config=CONFIG
    ) as running:
        yield running
