"""
The xcom-backends suite: one deployment on the suite's database, with one XCom backend at a time.

* ``objectstorage``: ``[core] xcom_backend`` is the unmodified ``XComObjectStorageBackend`` of
  apache-airflow-providers-common-io, on a ``file://`` folder in the deployment's home, with a
  small threshold and gzip compression (``test_objectstorage.py``);
* ``recording``: a custom backend (``recording_backend.py``, copied to ``$AIRFLOW_HOME/config``,
  which every component has on ``sys.path``) whose ``purge`` appends a line to a file before doing
  what the base class does (``test_custom_purge.py``).

``[core] xcom_backend`` is one class per deployment, and the first scenario is about the provider's
class as shipped, so the two cannot run at once. A second deployment would cost another
``airflow db migrate`` and start (over a minute on a loaded 2-core machine); instead each
module-scoped fixture switches the setting and restarts the one component that uses it, the
scheduler: its LocalExecutor forks the task processes, and only they resolve the backend
(``airflow.sdk.execution_time.xcom.resolve_xcom_backend``); the api-server and the scheduler read and
write XCom rows directly, bypassing any backend. No triggerer: nothing defers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from stack import AirflowStack, deployment

HERE = Path(__file__).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor")
OBJECTSTORAGE_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
RECORDING_BACKEND = "recording_backend.RecordingXComBackend"
THRESHOLD = 200  # bytes of JSON: the Dags' small values stay in the database, the big ones go to files


@pytest.fixture(scope="session")
def backends(venv, stack_home):
    home = stack_home("xcom-backends")
    (home / "config").mkdir()
    shutil.copy2(HERE / "recording_backend.py", home / "config" / "recording_backend.py")
    config = {
        "core": {"xcom_backend": OBJECTSTORAGE_BACKEND},
        # Section "common.io": Airflow's environment variable for it is AIRFLOW__COMMON_IO__<OPTION>.
        "common_io": {
            "xcom_objectstorage_path": f"file://{home / 'xcom-store'}",
            "xcom_objectstorage_threshold": THRESHOLD,
            "xcom_objectstorage_compression": "gzip",
        },
        # Where the recording backend's purge and its Dag's tasks append events (read from the environment).
        "e2e": {"events_file": str(home / "task-state" / "events.jsonl")},
    }
    with deployment(
        home,
        [HERE / "dags_objectstorage", HERE / "dags_recording"],
        wait_for_dags=["xcom_objectstorage", "xcom_objectstorage_delete", "xcom_recording"],
        venv=venv,
        config=config,
        components=COMPONENTS,
    ) as running:
        yield running


def use_backend(stack: AirflowStack, backend: str) -> AirflowStack:
    if stack.config["core"]["xcom_backend"] != backend:
        stack.configure({"core": {"xcom_backend": backend}})
        stack.restart("scheduler")
    return stack


@pytest.fixture(scope="module")
def objectstorage(backends):
    stack = use_backend(backends, OBJECTSTORAGE_BACKEND)
    stack.xcom_store = Path(stack.config["common_io"]["xcom_objectstorage_path"].removeprefix("file://"))
    return stack


@pytest.fixture(scope="module")
def recording(backends):
    stack = use_backend(backends, RECORDING_BACKEND)
    stack.events_file = Path(stack.config["e2e"]["events_file"])
    return stack
