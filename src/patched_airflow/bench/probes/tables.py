"""
The SQL of the probes that read or write Airflow's tables directly, per line's model of a task's tries.

Plain SQL where importing Airflow's models would cost seconds (``recovery.py`` reads the tries after
``airflow dags test``) or would be measured (``ti_run.py`` puts the task instance back between calls).
The tables differ between lines:

* ``try-history`` (3.1 to 3.3): ``task_instance`` holds the latest try of a task instance and
  ``task_instance_history`` the earlier ones, all under one id; ``xcom`` is keyed by (dag_id, task_id,
  run_id, map_index).
* ``attempt-rows`` (3.4): every try is its own ``task_instance`` row with its own id (the earlier ones
  archived: ``working_set`` NULL); there is no ``task_instance_history``; XComs are in ``xcom_v2``,
  keyed by the attempt's id (``xcom_v1`` keeps values from before 3.4).

The driver imports this module (``patched_airflow.bench.probes.tables``) to pick the line's model from
its release fact (``attempts_are_rows`` of the line's ``upstream.toml`` ``[release]``) and passes it to
every probe as ``attempt_model``; the probes import it from their folder. Pure Python:
no Airflow, no SQLAlchemy.
"""

from __future__ import annotations

TRY_HISTORY = "try-history"
ATTEMPT_ROWS = "attempt-rows"

_TRY_COLUMNS = "task_id, try_number, state, start_date, end_date"

# Rows of (task_id, try_number, state, start_date, end_date) of every try of the Dag's tasks.
TRIES = {
    TRY_HISTORY: (
        f"SELECT {_TRY_COLUMNS} FROM task_instance_history WHERE dag_id = :dag_id",
        f"SELECT {_TRY_COLUMNS} FROM task_instance WHERE dag_id = :dag_id",
    ),
    # Archived attempts included: plain SQL sees every row (only Airflow's ORM hides archived ones).
    ATTEMPT_ROWS: (f"SELECT {_TRY_COLUMNS} FROM task_instance WHERE dag_id = :dag_id",),
}

# Rows of (task_id, key, value) of the XComs of the Dag's tasks (every attempt's, on 3.4).
XCOMS = {
    TRY_HISTORY: "SELECT task_id, key, value FROM xcom WHERE dag_id = :dag_id",
    ATTEMPT_ROWS: (
        "SELECT ti.task_id, x.key, x.value FROM xcom_v2 AS x"
        " JOIN task_instance AS ti ON ti.id = x.task_instance_id WHERE ti.dag_id = :dag_id"
    ),
}

# Put one task instance (the current try, by its id) back to QUEUED, so that it can start again.
REQUEUE = {
    TRY_HISTORY: "UPDATE task_instance SET state = 'queued' WHERE id = :id",
    # The current attempt's row: the id ti_run was called with is that attempt's own.
    ATTEMPT_ROWS: "UPDATE task_instance SET state = 'queued' WHERE id = :id",
}

MODELS = (TRY_HISTORY, ATTEMPT_ROWS)


def attempt_model(attempts_are_rows: bool) -> str:
    """The model of a release's tables, from its ``[release] attempts_are_rows`` fact."""
    return ATTEMPT_ROWS if attempts_are_rows else TRY_HISTORY
