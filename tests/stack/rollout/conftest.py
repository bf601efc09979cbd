"""
The rollout suite: one deployment on the suite's database, moved between vanilla 3.3.2
(``VANILLA_AIRFLOW_VENV``) and the patched build (``PATCHED_AIRFLOW_VENV``) a component at a time, as
an operator rolling the change out and back would.

It starts as a vanilla 3.3.2 installation (vanilla ``airflow db migrate`` creates the database)
whose api-server was upgraded first, then goes through these phases, each a session fixture that
depends on the one before, does what the phase does and returns what it saw; the tests only assert
on that, so they can run in any order or be selected alone:

1. ``api_first`` (contract: patched api-server, vanilla worker): patched api-server, vanilla
   scheduler (so vanilla task processes: LocalExecutor) and dag-processor; an unflagged Dag.
2. ``vanilla_serialized``: the scheduler and dag-processor upgraded: the Dag serialized by the
   vanilla dag-processor is read and run by the patched build, and re-parsed by it unchanged.
3. ``all_patched``: flagged Dags added; a retry keeps the XComs, a person's clear starts over.
4. ``api_last`` (contract: vanilla api-server, patched worker): the api-server back on vanilla: it
   serves the flagged Dag the patched dag-processor serialized, and the patched worker, which gets
   no ``is_automatic_restart`` from it, clears XComs on a retry, as vanilla does.
5. ``rolled_back``: the rest rolled back too: scheduler and dag-processor stopped, vanilla
   ``airflow db migrate``, the flag removed from one Dag file (another left flagged, as a forgotten
   file), both started on vanilla 3.3.2 (the api-server, vanilla since phase 4, stays up).

Tasks run from the scheduler's virtualenv, and report which build ran them (``airflow.__version__``
in their ``started_try_<n>`` XCom).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from phases import (
    COMPONENTS,
    FLAG,
    counts,
    log_size,
    run_once,
    serialized,
    served,
    server_errors,
    snapshot,
    table_rows,
    use,
    work_of,
)
from stack import deployment

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def vanilla_venv() -> Path:
    """Stock apache-airflow==3.3.2's virtualenv (``VANILLA_AIRFLOW_VENV``, set by ``./test.sh``)."""
    if not (path := os.environ.get("VANILLA_AIRFLOW_VENV")):
        pytest.skip("VANILLA_AIRFLOW_VENV is not set: run through ./test.sh --suite rollout")
    return Path(path)


@pytest.fixture(scope="session")
def stack(venv, vanilla_venv, stack_home):
    with deployment(
        stack_home("rollout"),
        [HERE / "dags"],
        wait_for_dags=["rollout_plain"],
        venv=vanilla_venv,
        venvs={"api-server": venv},
        components=COMPONENTS,
    ) as running:
        yield running


# -- the phases ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api_first(stack, venv, vanilla_venv) -> dict[str, Any]:
    use(stack, {"api-server": venv, "scheduler": vanilla_venv, "dag-processor": vanilla_venv})
    since = log_size(stack)
    seen = {
        "api_version": stack.get("/api/v2/version")["version"],
        "served": served(stack, "rollout_plain"),
        "run": run_once(stack, "rollout_plain"),
    }
    seen["server_errors"] = server_errors(stack, since)
    return seen


@pytest.fixture(scope="session")
def vanilla_serialized(stack, api_first, venv) -> dict[str, Any]:
    # rollout_plain has one version, serialized by the vanilla dag-processor. The scheduler and the
    # dag-processor are upgraded together; the patched dag-processor parses every file when it
    # starts, and, the Dag being unflagged, serializes it exactly as vanilla did: no new row, no new
    # version, so the run below runs from what vanilla serialized.
    parsed_before = stack.get("/api/v2/dags/rollout_plain")["last_parsed_time"]
    seen: dict[str, Any] = {"serialized_before": serialized(stack, "rollout_plain")}
    use(stack, {"api-server": venv, "scheduler": venv, "dag-processor": venv})
    since = log_size(stack)
    seen["served"] = served(stack, "rollout_plain")
    seen["run"] = run_once(stack, "rollout_plain")
    stack.wait_until(
        lambda: stack.get("/api/v2/dags/rollout_plain")["last_parsed_time"] != parsed_before,
        180,
        "the patched dag-processor to parse rollout_plain",
    )
    seen["serialized_after"] = serialized(stack, "rollout_plain")
    seen["versions_after"] = stack.get("/api/v2/dags/rollout_plain/dagVersions")["dag_versions"]
    seen["server_errors"] = server_errors(stack, since)
    return seen


@pytest.fixture(scope="session")
def all_patched(stack, vanilla_serialized, venv) -> dict[str, Any]:
    use(stack, {"api-server": venv, "scheduler": venv, "dag-processor": venv})
    since = log_size(stack)
    for name in ("rollout_flagged.py", "rollout_forgotten.py"):
        stack.add_dag_file(HERE / "flagged_dags" / name)
    stack.wait_for_dags(["rollout_flagged", "rollout_forgotten"])
    # Two runs at once: both retried; the first is then cleared, the second keeps what its retry
    # kept, for the rollback to read back.
    run_ids = [stack.trigger("rollout_flagged") for _ in range(2)]
    for run_id in run_ids:
        stack.wait_for_run("rollout_flagged", run_id)
    seen: dict[str, Any] = {
        "retried": {"run_id": run_ids[0], **work_of(stack, "rollout_flagged", run_ids[0])},
        "kept": {"run_id": run_ids[1], **work_of(stack, "rollout_flagged", run_ids[1])},
    }
    run_id = run_ids[0]
    # A person's clear of the flagged task after it succeeded: the next try starts fresh.
    stack.clear_via_rest("rollout_flagged", run_id, ["work"])
    stack.wait_for_ti(
        "rollout_flagged", run_id, "work", "success", condition=lambda ti: ti["try_number"] == 3
    )
    stack.wait_for_run("rollout_flagged", run_id)
    seen["cleared"] = work_of(stack, "rollout_flagged", run_id)
    seen["snapshot"] = snapshot(stack, ["rollout_plain", "rollout_flagged"])
    seen["server_errors"] = server_errors(stack, since)
    return seen


@pytest.fixture(scope="session")
def api_last(stack, all_patched, venv, vanilla_venv) -> dict[str, Any]:
    use(stack, {"api-server": vanilla_venv, "scheduler": venv, "dag-processor": venv})
    since = log_size(stack)
    seen: dict[str, Any] = {
        "api_version": stack.get("/api/v2/version")["version"],
        "served": served(stack, "rollout_flagged"),
        "served_forgotten": served(stack, "rollout_forgotten"),
        # Phase 3's two runs: the one cleared (its try 3 started over) and the one whose retry kept try 1's XComs.
        "cleared_run": work_of(stack, "rollout_flagged", all_patched["retried"]["run_id"]),
        "kept_run": work_of(stack, "rollout_flagged", all_patched["kept"]["run_id"]),
        "run": run_once(stack, "rollout_flagged"),
    }
    seen["task_log_try_2"] = stack.task_log("rollout_flagged", seen["run"]["run_id"], "work", 2)
    seen["server_errors"] = server_errors(stack, since)
    return seen


@pytest.fixture(scope="session")
def rolled_back(stack, api_last, vanilla_venv) -> dict[str, Any]:
    dag_ids = ["rollout_plain", "rollout_flagged"]
    since = log_size(stack)
    seen: dict[str, Any] = {"snapshot_before": snapshot(stack, dag_ids)}
    versions_before = len(stack.get("/api/v2/dags/rollout_flagged/dagVersions")["dag_versions"])
    # The api-server is on vanilla already (phase 4) and stays up; nothing else writes meanwhile.
    for component in ("scheduler", "dag-processor"):
        stack.stop_component(component)
    seen["rows_before"] = table_rows(stack)
    seen["migrate"] = stack.cli("db", "migrate", venv=vanilla_venv)
    seen["rows_after_migrate"] = table_rows(stack)

    # What a user rolling back does to the Dag files: the flag goes (one file is forgotten).
    flagged = stack.dags_folder / "rollout_flagged.py"
    text = flagged.read_text()
    assert FLAG in text
    stack.add_dag_file(flagged, text.replace(FLAG, ""))

    for component in ("scheduler", "dag-processor"):
        stack.start_component(component, venv=vanilla_venv)
    stack.wait_healthy()

    def reparsed() -> list | None:
        errors = stack.get("/api/v2/importErrors")["import_errors"]
        versions = stack.get("/api/v2/dags/rollout_flagged/dagVersions")["dag_versions"]
        return errors if errors and len(versions) > versions_before else None

    seen["import_errors"] = stack.wait_until(reparsed, 180, "vanilla to parse the rolled-back Dag files")
    seen["rows_after_start"] = table_rows(stack)
    seen["api_version"] = stack.get("/api/v2/version")["version"]
    seen["snapshot_after"] = snapshot(stack, dag_ids)
    old_version = min(
        v["version_number"] for v in stack.get("/api/v2/dags/rollout_flagged/dagVersions")["dag_versions"]
    )
    seen["old_structure"] = stack.get(
        "/ui/structure/structure_data", dag_id="rollout_flagged", version_number=old_version
    )
    seen["grid"] = stack.get("/ui/grid/structure/rollout_flagged")
    seen["grid_runs"] = stack.get("/ui/grid/runs/rollout_flagged")
    seen["new_runs"] = {dag_id: run_once(stack, dag_id) for dag_id in dag_ids}
    seen["rows_at_end"] = table_rows(stack)
    seen["server_errors"] = server_errors(stack, since)
    # For a post-mortem (E2E_STACK_HOME): the row counts at each step.
    steps = ("rows_before", "rows_after_migrate", "rows_after_start", "rows_at_end")
    (stack.home / "rollback-row-counts.json").write_text(
        json.dumps({step: counts(seen[step]) for step in steps}, indent=1)
    )
    return seen
