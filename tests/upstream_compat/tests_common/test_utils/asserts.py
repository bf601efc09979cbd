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
"""Count the SQL statements sent to the metadata database, as upstream's ``count_queries``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event


class CountQueries:
    """
    The SQL statements the Airflow engine sent while the context was open, in order.

    Every statement handed to a DBAPI cursor counts, from any thread (an in-process API call runs
    in another thread). ``BEGIN``/``COMMIT`` issued by the driver itself are not statements.
    """

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)

    def _after_cursor_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)


@contextlib.contextmanager
def count_queries() -> Iterator[CountQueries]:
    from airflow import settings

    counter = CountQueries()
    event.listen(settings.engine, "after_cursor_execute", counter._after_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(settings.engine, "after_cursor_execute", counter._after_cursor_execute)


@contextlib.contextmanager
def assert_queries_count(expected: int) -> Iterator[CountQueries]:
    """Fail unless exactly ``expected`` statements are sent inside the block."""
    with count_queries() as counter:
        yield counter
    assert len(counter) == expected, f"expected {expected} SQL statements, got {len(counter)}:\n" + "\n".join(
        counter.statements
    )
