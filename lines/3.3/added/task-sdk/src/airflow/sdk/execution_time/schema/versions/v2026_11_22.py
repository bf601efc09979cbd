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

"""Supervisor schema version 2026-11-22."""

from __future__ import annotations

from cadwyn import VersionChange, schema

from airflow.sdk.api.datamodels._generated import TIRunContext


class AddIsAutomaticRestartToSupervisorTIRunContext(VersionChange):
    """
    Add the ``is_automatic_restart`` field to TIRunContext.

    The supervisor-schema mirror of the execution API's ``AddIsAutomaticRestartField``: a lang-SDK
    runtime pinned to an older version does not get the field in ``StartupDetails``.
    """

    description = __doc__

    instructions_to_migrate_to_previous_version = (
        schema(TIRunContext).field("is_automatic_restart").didnt_exist,
    )
