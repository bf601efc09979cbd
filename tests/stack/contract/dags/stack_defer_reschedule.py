"""
XComs pushed before a deferral or a reschedule are there after it.

* ``deferred`` / ``deferred_unflagged``: push ``before_defer``, defer on a 10-second
  ``TimeDeltaTrigger`` (standard provider, run by the triggerer), and on resume record what
  ``before_defer`` held. Resume after deferral keeps XComs with or without the flag.
* ``deferred_then_failed``: the same, flagged, but the resumed try 1 fails; try 2 (an automatic
  retry) records what it found at start.
* ``rescheduled`` / ``rescheduled_unflagged``: ``mode="reschedule"`` sensors that succeed on the
  3rd poke; every poke appends its number to the XCom ``pokes`` it read at start. With the flag the
  list grows (1, 2, 3); without it each reschedule starts from nothing.
"""

from __future__ import annotations

import datetime

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, BaseSensorOperator, dag

# Seconds before a deferred task resumes, and between pokes. Not shorter: when the task instance is
# queued again before the scheduler has processed the executor's "success" for the worker that
# deferred or rescheduled (same try number, same executor key), upstream Airflow 3.3.2 fails it,
# flag or no flag: "reported that the task instance ... finished with state success, but the task
# instance's state attribute is queued" (apache/airflow issues 67287, 71172, 72716). That lag was
# 3-4s on a busy 2-core machine.
RACE_MARGIN = 10


class PushThenDefer(BaseOperator):
    def __init__(self, *, fail_after_resume: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fail_after_resume = fail_after_resume

    def execute(self, context):
        ti = context["ti"]
        started = {key: ti.xcom_pull(key=key) for key in ("before_defer", "seen_after_defer")}
        ti.xcom_push(key=f"started_try_{ti.try_number}", value=started)
        if ti.try_number > 1:
            return started
        ti.xcom_push(key="before_defer", value=f"pushed by try {ti.try_number} before deferring")
        self.defer(trigger=TimeDeltaTrigger(datetime.timedelta(seconds=RACE_MARGIN)), method_name="resume")

    def resume(self, context, event=None):
        ti = context["ti"]
        seen = ti.xcom_pull(key="before_defer")
        ti.xcom_push(key="seen_after_defer", value=seen)
        if self.fail_after_resume:
            raise RuntimeError("simulated failure after resuming")
        return seen


class SucceedOnThirdPoke(BaseSensorOperator):
    def poke(self, context):
        ti = context["ti"]
        poke = context["task_reschedule_count"] + 1
        seen = ti.xcom_pull(key="pokes")
        ti.xcom_push(key=f"seen_at_poke_{poke}", value=seen)
        ti.xcom_push(key="pokes", value=[*(seen or []), poke])
        return poke >= 3


@dag(
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["e2e-stack"],
    default_args={"priority_weight": 10},  # ahead of the 200 mapped task instances of stack_mapped
)
def stack_defer_reschedule():
    PushThenDefer(task_id="deferred", persist_xcom_through_retry=True)
    PushThenDefer(task_id="deferred_unflagged")
    PushThenDefer(
        task_id="deferred_then_failed",
        fail_after_resume=True,
        retries=1,
        retry_delay=datetime.timedelta(seconds=0),
        persist_xcom_through_retry=True,
    )
    for task_id, flag in (("rescheduled", True), ("rescheduled_unflagged", False)):
        SucceedOnThirdPoke(
            task_id=task_id,
            mode="reschedule",
            poke_interval=RACE_MARGIN,
            timeout=600,
            persist_xcom_through_retry=flag,
        )


stack_defer_reschedule()
