"""What every probe shares: its arguments, a private channel for results, and Airflow setup."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def private_stdout():
    """Keep the real stdout for JSON results and send everything else written to fd 1 to stderr.

    Airflow's logging may print to stdout; the driver reads only the lines a probe emits here.
    """
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def emit(channel, record: dict[str, Any]) -> None:
    channel.write(json.dumps(record) + "\n")
    channel.flush()


def arguments() -> dict[str, Any]:
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def airflow_version() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("apache-airflow-core", "apache-airflow-task-sdk")}
