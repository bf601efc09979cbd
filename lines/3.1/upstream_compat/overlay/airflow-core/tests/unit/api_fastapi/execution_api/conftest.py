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
Execution API fixtures for Airflow 3.1, with the semantics of upstream's conftest at this path there.

Airflow 3.1 authenticates Execution API requests with ``JWTBearer`` (``execution_api/deps.py``),
which asks the app's service registry for a ``JWTValidator``; 3.2 replaced it with
``execution_api/security.py``, which the shared overlay's conftest overrides. Here, as upstream
3.1 does, the registered validator is replaced: it accepts any token and answers with the claims
the route asks for (the task instance of the request path as ``sub``), so the bearer and its
path check still run.
"""

from __future__ import annotations

from unittest.mock import AsyncMock

import pytest


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
    from airflow.api_fastapi.auth.tokens import JWTValidator
    from airflow.api_fastapi.execution_api.app import lifespan

    app = cached_app(apps="execution")

    def validated_claims(token, validators=None):
        sub = (validators or {}).get("sub", {}).get("value", "00000000-0000-0000-0000-000000000000")
        return {"sub": sub, "exp": 9999999999, "iat": 1000000000}

    with TestClient(app, headers={"Authorization": "Bearer fake"}) as test_client:
        validator = AsyncMock(spec=JWTValidator)
        validator.avalidated_claims.side_effect = validated_claims
        lifespan.registry.register_value(JWTValidator, validator)
        yield test_client
