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
"""Temporarily override Airflow configuration in tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


def _parsers():
    from airflow.configuration import conf as core_conf

    from tests_common.test_utils.version_compat import AIRFLOW_V_3_2_PLUS

    if not AIRFLOW_V_3_2_PLUS:
        # Before 3.2 the Task SDK reads airflow-core's parser.
        return (core_conf,)
    from airflow.sdk.configuration import conf as sdk_conf

    # Core and the Task SDK each hold their own parser; a test override must reach both.
    return core_conf, sdk_conf


@contextlib.contextmanager
def conf_vars(overrides: Mapping[tuple[str, str], str | None]) -> Iterator[None]:
    """
    Set (or, with ``None``, remove) config options for the duration of the block.

    Usable as a context manager or as a decorator, e.g.
    ``@conf_vars({("core", "dags_folder"): "/tmp/dags"})``.
    """
    parsers = _parsers()
    saved: list[tuple[object, str, str, str | None]] = []
    saved_env: dict[str, str] = {}
    for (section, key), value in overrides.items():
        env_name = f"AIRFLOW__{section.upper()}__{key.upper()}"
        if env_name in os.environ:
            saved_env[env_name] = os.environ.pop(env_name)
        for parser in parsers:
            old = parser.get(section, key) if parser.has_option(section, key) else None
            saved.append((parser, section, key, old))
            _set(parser, section, key, value)
    try:
        yield
    finally:
        for parser, section, key, old in reversed(saved):
            _set(parser, section, key, old)
        os.environ.update(saved_env)


def _set(parser, section: str, key: str, value: str | None) -> None:
    if value is None:
        if parser.has_section(section):
            parser.remove_option(section, key)
        return
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, key, value)


@contextlib.contextmanager
def env_vars(overrides: Mapping[str, str]) -> Iterator[None]:
    """Temporarily set environment variables, restoring the previous environment afterwards."""
    old = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
