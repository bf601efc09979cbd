"""The probes' SQL per line: each model's statements run against that model's tables (SQLite).

The tables here hold only the columns the statements use, as 3.3 (task_instance_history, xcom) and
3.4 (attempt rows, xcom_v2) name them: they check the statements' shape, not Airflow's schema.
"""

from __future__ import annotations

import sqlite3

import pytest

from patched_airflow.bench.probes.tables import (
    ATTEMPT_ROWS,
    MODELS,
    REQUEUE,
    TRIES,
    TRY_HISTORY,
    XCOMS,
    attempt_model,
)
from patched_airflow.lines import REPO, Lines

TRY = "(id TEXT, dag_id TEXT, task_id TEXT, try_number INT, state TEXT, start_date TEXT, end_date TEXT)"
SCHEMAS = {
    TRY_HISTORY: [
        f"CREATE TABLE task_instance {TRY}",
        f"CREATE TABLE task_instance_history {TRY}",
        "CREATE TABLE xcom (dag_id TEXT, task_id TEXT, key TEXT, value TEXT)",
        "INSERT INTO task_instance_history VALUES ('ti', 'd', 't', 1, 'up_for_retry', '2024-01-01', '2024-01-02')",
        "INSERT INTO task_instance VALUES ('ti', 'd', 't', 2, 'success', '2024-01-03', '2024-01-04')",
        "INSERT INTO xcom VALUES ('d', 't', 'started_try_1', '0'), ('d', 't', 'started_try_2', '500')",
    ],
    ATTEMPT_ROWS: [
        f"CREATE TABLE task_instance {TRY}",
        "CREATE TABLE xcom_v2 (id TEXT, task_instance_id TEXT, key TEXT, value TEXT)",
        "INSERT INTO task_instance VALUES ('a1', 'd', 't', 1, 'up_for_retry', '2024-01-01', '2024-01-02')",
        "INSERT INTO task_instance VALUES ('a2', 'd', 't', 2, 'success', '2024-01-03', '2024-01-04')",
        "INSERT INTO xcom_v2 VALUES ('x1', 'a1', 'started_try_1', '0'), ('x2', 'a2', 'started_try_2', '500')",
    ],
}


def sqlite(statement: str) -> str:
    return statement.replace(":dag_id", "?").replace(":id", "?")


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_every_statement(model):
    assert TRIES[model] and XCOMS[model] and REQUEUE[model]


@pytest.mark.parametrize("model", MODELS)
def test_statements_read_every_try_and_its_xcoms(model):
    db = sqlite3.connect(":memory:")
    for statement in SCHEMAS[model]:
        db.execute(statement)
    tries = {row[1]: row for statement in TRIES[model] for row in db.execute(sqlite(statement), ("d",))}
    assert {n: (task, state) for n, (task, _, state, _, _) in tries.items()} == {
        1: ("t", "up_for_retry"),
        2: ("t", "success"),
    }
    assert sorted(db.execute(sqlite(XCOMS[model]), ("d",))) == [
        ("t", "started_try_1", "0"),
        ("t", "started_try_2", "500"),
    ]
    current = "ti" if model == TRY_HISTORY else "a2"
    db.execute(sqlite(REQUEUE[model]), (current,))
    assert db.execute("SELECT state FROM task_instance WHERE id = ?", (current,)).fetchone() == ("queued",)


def test_a_release_fact_picks_the_model():
    assert attempt_model(attempts_are_rows=False) == TRY_HISTORY
    assert attempt_model(attempts_are_rows=True) == ATTEMPT_ROWS
    assert {attempt_model(line.release.attempts_are_rows) for line in Lines.load(REPO).lines.values()} <= set(
        MODELS
    )
