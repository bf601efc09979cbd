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
"""Supervisor schema migration of the ``is_automatic_restart`` field of ``TIRunContext``."""

from __future__ import annotations

import pytest
from uuid6 import uuid7

from airflow.sdk import timezone
from airflow.sdk.api.datamodels._generated import BundleInfo, TaskInstance
from airflow.sdk.execution_time.comms import StartupDetails
from airflow.sdk.execution_time.schema import get_schema_version_migrator


@pytest.fixture(scope="module")
def migrator():
    return get_schema_version_migrator()


@pytest.fixture
def startup_details(make_ti_context):
    return StartupDetails(
        ti=TaskInstance(
            id=uuid7(),
            task_id="a",
            dag_id="persist_xcom",
            run_id="c",
            try_number=2,
            dag_version_id=uuid7(),
            queue="default",
        ),
        dag_rel_path="persist_xcom.py",
        bundle_info=BundleInfo(name="my-bundle", version=None),
        ti_context=make_ti_context(max_tries=1).model_copy(update={"is_automatic_restart": True}),
        start_date=timezone.utcnow(),
        sentry_integration="",
    )


def test_startup_details_downgrade_strips_is_automatic_restart(migrator, startup_details):
    downgraded = migrator.downgrade(startup_details, "2026-06-16").model_dump()

    assert "is_automatic_restart" not in downgraded["ti_context"]
    assert downgraded["ti_context"]["max_tries"] == 1


def test_startup_details_at_head_keeps_is_automatic_restart(migrator, startup_details):
    assert migrator.downgrade(startup_details, "2026-11-22").model_dump()["ti_context"][
        "is_automatic_restart"
    ]
