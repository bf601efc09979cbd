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
Core API fixtures, with the semantics of upstream's ``test_client`` (``tests/unit/api_fastapi/conftest.py``).

``test_client`` is a ``TestClient`` on a new API server app (``create_app()``, every sub-app) with
``SimpleAuthManager`` as the auth manager, authenticated as an admin by a JWT that the auth
manager itself signed, so authentication and authorization run for real. Its base URL is the
prefix of the API the test's folder is named after: ``/api/v2`` under ``routes/public``, ``/ui``
under ``routes/ui``. As upstream, the app's lifespan is not entered.
"""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

API_PATHS = {
    "public": "/api/v2",
    "ui": "/ui",
}

BASE_URL = "http://testserver"


def get_api_path(request: pytest.FixtureRequest) -> str:
    """Determine the API path from the name of the test's folder."""
    subdirectory_name = os.path.basename(os.path.dirname(request.path))
    return API_PATHS.get(subdirectory_name, "/")


@pytest.fixture
def test_client(request):
    import time_machine
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from tests_common.test_utils.config import conf_vars

    with conf_vars(
        {
            (
                "core",
                "auth_manager",
            ): "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        }
    ):
        app = create_app()
        auth_manager: SimpleAuthManager = app.state.auth_manager
        # Issued in 2014 and valid until tomorrow, so the token stays valid in tests that travel
        # in time with time_machine.
        time_very_before = datetime.datetime(2014, 1, 1, 0, 0, 0)
        time_after = datetime.datetime.now() + datetime.timedelta(days=1)
        with time_machine.travel(time_very_before, tick=False):
            token = auth_manager._get_token_signer(
                expiration_time_in_seconds=int((time_after - time_very_before).total_seconds())
            ).generate(
                auth_manager.serialize_user(SimpleAuthManagerUser(username="test", role="admin")),
            )
        yield TestClient(
            app, headers={"Authorization": f"Bearer {token}"}, base_url=f"{BASE_URL}{get_api_path(request)}"
        )


@pytest.fixture
def get_execution_app():
    """As upstream's fixture of that name: the Execution API sub-app mounted in ``test_client``'s app."""

    def _get_execution_app(test_client):
        for route in test_client.app.router.routes:
            if getattr(route, "path", None) == "/execution":
                return route.app
        raise RuntimeError("Execution app not found at /execution")

    return _get_execution_app
