"""
A series that edits the supervisor schema snapshot must change exactly the entries its models change:
each to what the patched Task SDK gives, every other one as the release has it, however this
project's generator renders the entries the series never touched.
"""

from __future__ import annotations

import pytest

from patched_airflow.testing.supervisor_schema import _series_change_matches

# The release's file, and what the generator gives for the vanilla Task SDK: it renders JsonValue
# differently from the hook upstream ran, an entry no series touches.
RELEASE = {"api_version": "1", "$defs": {"JsonValue": {"type": ["object", "null"]}, "A": {"x": 1}}}
VANILLA = {"api_version": "1", "$defs": {"JsonValue": {}, "A": {"x": 1}}}
PATCHED = {"api_version": "1", "$defs": {"JsonValue": {}, "A": {"x": 1}, "New": {"y": 2}}}


@pytest.mark.parametrize(
    ("series", "wrong"),
    [
        pytest.param({**RELEASE, "$defs": {**RELEASE["$defs"], "New": {"y": 2}}}, [], id="new-model-added"),
        pytest.param(RELEASE, ["$defs/New"], id="new-model-missing"),
        pytest.param(
            {**RELEASE, "$defs": {**RELEASE["$defs"], "New": {"y": 3}}}, ["$defs/New"], id="new-model-stale"
        ),
        pytest.param(
            {**PATCHED}, ["$defs/JsonValue"], id="whole-file-regenerated-rewrites-an-untouched-entry"
        ),
        pytest.param(
            {**RELEASE, "api_version": "2", "$defs": {**RELEASE["$defs"], "New": {"y": 2}}},
            ["api_version"],
            id="top-level-key-changed-without-the-models",
        ),
    ],
)
def test_series_change_matches(series, wrong):
    assert _series_change_matches(RELEASE, series, VANILLA, PATCHED) == wrong


def test_a_changed_model_must_be_regenerated():
    patched = {**VANILLA, "$defs": {**VANILLA["$defs"], "A": {"x": 1, "z": 0}}}
    series = {**RELEASE, "$defs": {**RELEASE["$defs"], "A": {"x": 1, "z": 0}}}

    assert _series_change_matches(RELEASE, series, VANILLA, patched) == []
    assert _series_change_matches(RELEASE, RELEASE, VANILLA, patched) == ["$defs/A"]
