"""
Recovery: a task that processes 1,000,000 records with a checkpoint every 10,000 and fails once.

``python recovery.py '{"home": DIR, "records": 1000000, "every": 10000, "rounds": 8,
"points": [0.1, 0.5, 0.9, 0.99], "order": ["flagged", "unflagged"]}'`` writes a Dag with one task
per failure point and variant, chained in that order after a warm-up task, and runs it with ``airflow dags test`` (a
real task run through the in-process Execution API; ``retries=1``, ``retry_delay=0``). Each task
starts at its checkpoint XCom (``xcom_pull(key="checkpoint") or 0``), hashes each record ``rounds``
times with sha256 (a fixed cost per record), pushes the checkpoint after every ``every`` records,
and on its first try raises at the failure point, right after the checkpoint there was pushed.
Flagged tasks (``persist_xcom_through_retry=True``) resume there on the retry; unflagged ones
start again from record 0.

Prints one JSON line: per task, the start and end of each try, and the record each try started at
(an XCom the task pushes), read with the SQL of the line's ``attempt_model`` (``tables.py``: 3.3's
``task_instance_history`` and ``task_instance``, or 3.4's attempt rows and ``xcom_v2``).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from protocol import airflow_version, arguments, emit, private_stdout  # noqa: E402
from tables import TRIES, TRY_HISTORY, XCOMS  # noqa: E402

DAG = """
from __future__ import annotations

import datetime
import hashlib

from airflow.sdk import DAG, chain, task

RECORDS = {records}
EVERY = {every}
ROUNDS = {rounds}


def work(first, count):
    sha256 = hashlib.sha256
    for record in range(first, first + count):
        digest = record.to_bytes(8, "little")
        for _ in range(ROUNDS):
            digest = sha256(digest).digest()


def make(task_id, fail_at, flag_kwargs):
    @task(task_id=task_id, retries=1, retry_delay=datetime.timedelta(0), **flag_kwargs)
    def process(ti=None):
        start = ti.xcom_pull(key="checkpoint") or 0
        ti.xcom_push(key=f"started_try_{{ti.try_number}}", value=start)
        for offset in range(start, RECORDS, EVERY):
            if ti.try_number == 1 and offset == fail_at:
                raise RuntimeError(f"simulated failure at record {{offset}}")
            work(offset, EVERY)
            ti.xcom_push(key="checkpoint", value=offset + EVERY)
        return RECORDS - start

    return process()


@task(task_id="warm_up")
def warm_up(ti=None):
    # The first task of ``airflow dags test`` pays for loading what the others then share.
    ti.xcom_push(key="checkpoint", value=EVERY)
    work(0, EVERY)


with DAG("bench_recovery", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):
    chain(warm_up(), *[make(task_id, fail_at, flag_kwargs) for task_id, fail_at, flag_kwargs in {tasks!r}])
"""


def timestamp(value: datetime.datetime | str) -> float:
    """A column's datetime as a POSIX timestamp: SQLite returns the stored UTC text, naive."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


def task_list(args) -> list[tuple[str, int, dict]]:
    tasks = []
    for point in args["points"]:
        for variant in args["order"]:
            fail_at = round(point * args["records"] / args["every"]) * args["every"]
            kwargs = {"persist_xcom_through_retry": True} if variant == "flagged" else {}
            tasks.append((f"{variant}_{int(round(point * 1000)):04d}", fail_at, kwargs))
    return tasks


def read_tries(url: str, model: str) -> dict[str, dict[int, dict]]:
    """Per task, per try: state, start, end, and the record it started at."""
    # Plain SQL on the run's tables: importing Airflow's models would cost seconds after every run.
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    tries: dict[str, dict[int, dict]] = {}
    where = {"dag_id": "bench_recovery"}
    with engine.connect() as conn:
        for statement in TRIES[model]:
            for task_id, try_number, state, start, end in conn.execute(text(statement), where):
                tries.setdefault(task_id, {})[try_number] = {
                    "state": state,
                    "start": timestamp(start),
                    "end": timestamp(end),
                }
        for task_id, key, value in conn.execute(text(XCOMS[model]), where):
            if key.startswith("started_try_"):
                value = json.loads(value) if isinstance(value, str) else value
                tries[task_id][int(key.rsplit("_", 1)[1])]["started_at_record"] = value
    engine.dispose()
    return tries


def main() -> int:
    args = arguments()
    channel = private_stdout()
    home = Path(args["home"])
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    tasks = task_list(args)
    (dags / "bench_recovery.py").write_text(
        DAG.format(records=args["records"], every=args["every"], rounds=args["rounds"], tasks=tasks)
    )
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    airflow = str(Path(sys.prefix) / "bin" / "airflow")
    with open(home / "dags-test.log", "w") as log:
        result = subprocess.run(
            [airflow, "dags", "test", "bench_recovery"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if result.returncode != 0:
        raise SystemExit(f"airflow dags test exited {result.returncode}; see {home / 'dags-test.log'}")

    tries = read_tries(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], args.get("attempt_model", TRY_HISTORY)
    )
    records = []
    for task_id, fail_at, kwargs in tasks:
        records.append(
            {
                "task_id": task_id,
                "flagged": bool(kwargs),
                "fail_at": fail_at,
                "tries": {str(n): t for n, t in sorted(tries[task_id].items())},
            }
        )
    emit(channel, {"versions": airflow_version(), "tasks": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
