"""
A custom XCom backend that records every ``purge`` call, then does what the base class does.

Copied into the deployment's ``$AIRFLOW_HOME/config`` (on every component's ``sys.path``) and named
in ``[core] xcom_backend``. Each call appends one JSON line to the file named by the environment
variable ``AIRFLOW__E2E__EVENTS_FILE``: the XCom's key and stored value, and the process it ran in
(pid and the pids of its ancestors), so that a test can tell where and when Airflow purged.
"""

from __future__ import annotations

import json
import os

from airflow.sdk.bases.xcom import BaseXCom


def ancestors() -> list[int]:
    """The pids above this process, parent first (a task process: supervisor, executor worker, ...)."""
    found, pid = [], os.getppid()
    while pid > 1:
        found.append(pid)
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    return found


def record(event: dict) -> None:
    event = {**event, "pid": os.getpid(), "ancestors": ancestors()}
    with open(os.environ["AIRFLOW__E2E__EVENTS_FILE"], "a") as events:  # one short append per line
        events.write(json.dumps(event) + "\n")


class RecordingXComBackend(BaseXCom):
    @classmethod
    def purge(cls, xcom, *args) -> None:
        record({"event": "purge", "key": xcom.key, "value": xcom.value})
        super().purge(xcom, *args)
