# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""
``persist_xcom_through_retry`` and the public REST API's XCom entry delete.

A new attempt of a flagged task starts with what its predecessor held when it ended, so an entry a
person deletes from the running attempt is not carried to the next one. While the task instance
waits for its retry, the waiting attempt holds no XComs yet, so there is nothing to delete (as
without the flag).
"""

from __future__ import annotations

import pytest

from tests_common.test_utils.db import clear_db_dags, clear_db_logs, clear_db_runs, clear_db_serialized_dags
from unit.api_fastapi.execution_api import conftest as execution_api_conftest
from unit.api_fastapi.execution_api.versions.head.test_task_instances_keep_xcoms import (
    _get_attempts,
    _get_ti,
    _make_dag,
    _push_xcoms,
    _schedule_and_queue,
    _start,
    _task_raised,
    _xcoms,
)

pytestmark = pytest.mark.db_test

# The Execution API client of the Execution API tests, for the worker's side of each attempt.
execution_client = execution_api_conftest.client


def _entry_url(ti, key: str) -> str:
    return f"/dags/{ti.dag_id}/dagRuns/{ti.run_id}/taskInstances/{ti.task_id}/xcomEntries/{key}"


class TestDeleteXComEntry:
    def setup_method(self):
        clear_db_runs()
        clear_db_logs()
        clear_db_serialized_dags()
        clear_db_dags()

    def teardown_method(self):
        self.setup_method()

    @pytest.mark.parametrize("persist_xcom_through_retry", [True, False])
    def test_deleted_from_the_running_attempt_is_not_carried_forward(
        self, execution_client, test_client, session, dag_maker, persist_xcom_through_retry
    ):
        _make_dag(dag_maker, "deleted", persist_xcom_through_retry=persist_xcom_through_retry)
        _schedule_and_queue(dag_maker, session)
        first = _get_ti(session, "deleted")
        _start(execution_client, first)
        _push_xcoms(session, first, checkpoint=500, progress="half")

        assert test_client.delete(_entry_url(first, "checkpoint")).status_code == 204
        _task_raised(execution_client, session, dag_maker, first)
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "deleted")
        _start(execution_client, ti)

        assert ti.id != first.id
        assert _xcoms(session, ti) == ({"progress": "half"} if persist_xcom_through_retry else {})
        assert _xcoms(session, first) == {"progress": "half"}

    def test_nothing_to_delete_while_waiting_for_the_retry(
        self, execution_client, test_client, session, dag_maker
    ):
        _make_dag(dag_maker, "waiting")
        _schedule_and_queue(dag_maker, session)
        first = _get_ti(session, "waiting")
        _start(execution_client, first)
        _push_xcoms(session, first, checkpoint=500)
        _task_raised(execution_client, session, dag_maker, first)

        assert test_client.delete(_entry_url(first, "checkpoint")).status_code == 404
        _schedule_and_queue(dag_maker, session)
        ti = _get_ti(session, "waiting")
        _start(execution_client, ti)

        assert [attempt.try_number for attempt in _get_attempts(session, "waiting")] == [1, 2]
        assert _xcoms(session, ti) == {"checkpoint": 500}
