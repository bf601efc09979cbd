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
"""Test helpers for reading the running Airflow version."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    base = Version(version("apache-airflow-core")).base_version
    major, minor, micro = (int(part) for part in base.split(".")[:3])
    return major, minor, micro


AIRFLOW_VERSION_TUPLE = get_base_airflow_version_tuple()

AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 3, 0)
AIRFLOW_V_3_4_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 4, 0)
