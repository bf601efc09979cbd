"""
Task start cost: ``PATCH /execution/task-instances/{id}/run`` (``ti_run``), in process.

Run with a virtualenv's python, on a migrated metadata database (``AIRFLOW__DATABASE__*``)::

    python ti_run.py '{"flagged": true}'

It writes one Dag per case to the database the way the DAG processor does, brings a task instance
to the state of the case through the code the scheduler and the Execution API run (its first try;
or its second try after the first reported ``up_for_retry`` with a checkpoint XCom), then waits for
commands on stdin, one JSON object a line: ``{"case": "unflagged-retry", "n": 250}`` starts that
task instance ``n`` times through the in-process Execution API (the one ``dag.test()`` uses) and
answers one JSON line: the latency of each call (ns, the HTTP round trip through the ASGI app) and
the SQL statements each call sent, with the time each spent in the database driver (SQLAlchemy
``before_cursor_execute``/``after_cursor_execute`` on Airflow's engines). Between
two calls the task instance is put back to QUEUED with one UPDATE, outside the measurement (the
line's ``attempt_model`` picks it from ``tables.py``).
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from protocol import airflow_version, arguments, emit, private_stdout  # noqa: E402
from tables import REQUEUE, TRY_HISTORY  # noqa: E402

RUN_PAYLOAD = {
    "state": "running",
    "hostname": "bench-host",
    "unixname": "bench",
    "pid": 100,
    "start_date": "2024-10-31T12:00:00Z",
}
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def _noop():
    return None


def write_dag(dag_id: str, flagged: bool, session):
    """Write a one-task Dag to the database as the DAG processor does; return the scheduler's Dag."""
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import LazyDeserializedDAG

    try:
        from airflow.serialization.definitions.dag import SerializedDAG
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.1: one SerializedDAG serializes a Dag and writes it to the database
        from airflow.serialization.serialized_objects import SerializedDAG  # type: ignore[no-redef]

        DagSerialization = SerializedDAG  # type: ignore[misc]

    kwargs = {"persist_xcom_through_retry": True} if flagged else {}
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        PythonOperator(
            task_id="task", python_callable=_noop, retries=3, retry_delay=datetime.timedelta(0), **kwargs
        )
    session.merge(DagBundleModel(name="bench"))
    session.flush()
    data = DagSerialization.to_dict(dag)
    SerializedDAG.bulk_write_to_db("bench", None, [dag], session=session)
    SerializedDagModel.write_dag(LazyDeserializedDAG(data=data), "bench", session=session)
    session.commit()
    return DagSerialization.from_dict(data)


def create_run(dag, session):
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run = dag.create_dagrun(
        run_id="bench",
        run_type=DagRunType.MANUAL,
        logical_date=START,
        data_interval=dag.timetable.infer_manual_data_interval(run_after=START),
        run_after=START,
        state=DagRunState.RUNNING,
        start_date=START,
        triggered_by=DagRunTriggeredByType.TEST,
        session=session,
    )
    session.commit()
    return run


def schedule_and_queue(dag_id: str, session) -> None:
    """What the scheduler does with the run's ready task instances, then the executor hand-off."""
    from sqlalchemy import select

    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import TaskInstanceState

    session.expire_all()
    dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).one()
    dag_run.dag = DBDagBag().get_dag_for_run(dag_run=dag_run, session=session)
    schedulable = dag_run.task_instance_scheduling_decisions(session=session).schedulable_tis
    if not schedulable:
        raise RuntimeError(f"nothing to schedule in {dag_id}")
    dag_run.schedule_tis(schedulable, session=session)
    for ti in schedulable:
        session.refresh(ti)
        ti.state = TaskInstanceState.QUEUED
    session.commit()


def get_ti(dag_id: str, session):
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance

    session.expire_all()
    return session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).one()


def prepare(case: str, client, session) -> str:
    """Bring the case's task instance to QUEUED for the try the case starts; return its id."""
    from airflow.models.xcom import XComModel

    flag, attempt = case.split("-")
    dag_id = f"bench_ti_run_{flag}_{attempt}"
    create_run(write_dag(dag_id, flag == "flagged", session), session)
    schedule_and_queue(dag_id, session)
    ti = get_ti(dag_id, session)
    if attempt == "retry":
        response = client.patch(f"/task-instances/{ti.id}/run", json=RUN_PAYLOAD)
        response.raise_for_status()
        XComModel.set(
            "checkpoint",
            {"offset": 500_000},
            dag_id=dag_id,
            task_id="task",
            run_id=ti.run_id,
            map_index=-1,
            session=session,
        )
        session.commit()
        response = client.patch(
            f"/task-instances/{ti.id}/state",
            json={"state": "up_for_retry", "end_date": "2024-10-31T12:05:00Z"},
        )
        response.raise_for_status()
        schedule_and_queue(dag_id, session)
        ti = get_ti(dag_id, session)
        assert ti.try_number == 2, ti.try_number
    return str(ti.id)


def in_process_client(api):
    """A client of the in-process Execution API, of its transport's HTTP library.

    3.3's transport is httpx's; 3.4's is httpx2's (``InProcessExecutionAPI.transport``), whose
    transports an ``httpx.Client`` cannot use.
    """
    import importlib

    transport = api.transport
    http = importlib.import_module(type(transport).__module__.split(".")[0])
    return http.Client(transport=transport, base_url="http://in-process/")


def main() -> int:
    args = arguments()
    channel = private_stdout()

    from sqlalchemy import event, text

    from airflow import settings
    from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI

    cases = ["unflagged-first", "unflagged-retry"]
    if args.get("flagged"):
        cases += ["flagged-first", "flagged-retry"]
    client = in_process_client(InProcessExecutionAPI())
    session = settings.Session()
    ti_ids = {case: prepare(case, client, session) for case in cases}
    session.close()

    statements: list[str] = []
    database_ns: list[int] = []  # time spent in the database driver, per statement

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_began"] = time.perf_counter_ns()

    def record(conn, cursor, statement, parameters, context, executemany):
        database_ns.append(time.perf_counter_ns() - conn.info.pop("bench_began"))
        statements.append(statement)

    engines = [settings.engine]
    if getattr(settings, "async_engine", None) is not None:
        engines.append(settings.async_engine.sync_engine)
    requeue = text(REQUEUE[args.get("attempt_model", TRY_HISTORY)])

    def start(ti_id: str) -> tuple[int, list[str], dict, int]:
        statements.clear()
        database_ns.clear()
        for engine in engines:
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", record)
        began = time.perf_counter_ns()
        response = client.patch(f"/task-instances/{ti_id}/run", json=RUN_PAYLOAD)
        elapsed = time.perf_counter_ns() - began
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", record)
        if response.status_code != 200:
            raise RuntimeError(f"ti_run answered {response.status_code}: {response.text}")
        seen = list(statements)
        in_database = sum(database_ns)
        with settings.engine.begin() as conn:
            conn.execute(requeue, {"id": ti_id})
        return elapsed, seen, response.json(), in_database

    contexts = {}
    for case, ti_id in ti_ids.items():
        for _ in range(args.get("warmup", 20)):
            _, _, contexts[case], _ = start(ti_id)
    emit(
        channel,
        {
            "ready": cases,
            "versions": airflow_version(),
            "dialect": settings.engine.dialect.name,
            "context": {
                case: {
                    "is_automatic_restart": context.get("is_automatic_restart"),
                    "xcom_keys_to_clear": context.get("xcom_keys_to_clear"),
                }
                for case, context in contexts.items()
            },
        },
    )
    for line in sys.stdin:
        if not line.strip():
            continue
        import json

        command = json.loads(line)
        latencies, counts, in_database, sample = [], [], [], None
        for _ in range(command["n"]):
            elapsed, seen, _, database = start(ti_ids[command["case"]])
            latencies.append(elapsed)
            counts.append(len(seen))
            in_database.append(database)
            sample = sample or seen
        emit(
            channel,
            {
                "case": command["case"],
                "latency_ns": latencies,
                "database_ns": in_database,
                "statements": counts,
                "sql": sample,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
