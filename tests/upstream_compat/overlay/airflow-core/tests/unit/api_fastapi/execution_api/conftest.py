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
Execution API fixtures, with the semantics of upstream's conftest at this path.

``client`` is a ``TestClient`` on the real API app (``apps="execution"``) talking to the real
metadata database. Only the JWT bearer is replaced: the token it hands back names the task
instance of the request path with the ``execution`` scope, so ``require_auth`` and its scope
checks still run.
"""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from fastapi import Request


def _get_execution_api_app(root_app):
    """Find the mounted execution API sub-app."""
    for route in root_app.routes:
        if getattr(route, "path", None) == "/execution":
            return route.app
    raise RuntimeError("Execution API sub-app not found")


@pytest.fixture
def exec_app(client):
    """Return the execution API sub-app."""
    return _get_execution_api_app(client.app)


@pytest.fixture
def client(_initialized_db):
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import cached_app
    from airflow.api_fastapi.execution_api.datamodels.token import TIClaims, TIToken
    from airflow.api_fastapi.execution_api.security import _jwt_bearer

    app = cached_app(apps="execution")
    execution_app = _get_execution_api_app(app)

    # FastAPI resolves this signature's annotations from the module globals, hence Request up there.
    async def jwt_bearer_for_path_ti(request: Request) -> TIToken:
        ti_id = UUID(request.path_params.get("task_instance_id", "00000000-0000-0000-0000-000000000000"))
        return TIToken(id=ti_id, claims=TIClaims(sub=str(ti_id), scope="execution"))

    execution_app.dependency_overrides[_jwt_bearer] = jwt_bearer_for_path_ti
    with TestClient(_TokenForPathTI(app), headers={"Authorization": "Bearer fake"}) as test_client:
        yield test_client
    execution_app.dependency_overrides.pop(_jwt_bearer, None)


_PATH_TI = re.compile(r"/execution/task-instances/(?P<id>[0-9a-fA-F-]{36})(?:/|$)")


class _TokenForPathTI:
    """
    The API app, with the token of the request path's task instance already in the request scope.

    The dependency override above reaches the routes of the head version only: Cadwyn builds the
    routes of older Execution API versions (a request with an older ``Airflow-API-Version``) with
    copies of their dependencies. ``JWTBearer`` hands back a token it finds in the request scope
    before it validates anything, so every version gets the same token. Everything else is the app's.
    """

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        from airflow.api_fastapi.execution_api import security
        from airflow.api_fastapi.execution_api.datamodels.token import TIClaims, TIToken

        key = getattr(security, "_REQUEST_SCOPE_TOKEN_KEY", None)
        if key and scope["type"] == "http" and (match := _PATH_TI.search(scope["path"])):
            ti_id = UUID(match["id"])
            scope[key] = TIToken(id=ti_id, claims=TIClaims(sub=str(ti_id), scope="execution"))
        await self.app(scope, receive, send)
