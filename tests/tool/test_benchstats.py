"""The pure helpers behind ``./bench.sh``: percentiles, summaries and tables (no timing here)."""

from __future__ import annotations

import math

import pytest

from patched_airflow.bench.runner import interleaved
from patched_airflow.bench.stats import percentile, ratio, resolved, spread, summarize, table


def test_percentile_interpolates_between_ranks():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 99) == 99
    assert percentile([5], 95) == 5
    assert percentile([3, 1, 2], 0) == 1
    assert percentile([3, 1, 2], 100) == 3


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_rejects_out_of_range(q):
    with pytest.raises(ValueError):
        percentile([1, 2], q)


def test_percentile_of_nothing():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize():
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary["n"] == 4
    assert summary["min"] == 1.0 and summary["max"] == 4.0
    assert summary["p50"] == 2.5
    assert summary["mean"] == 2.5
    assert summary["p99"] == pytest.approx(3.97)


def test_ratio_and_spread():
    assert ratio(3, 2) == 1.5
    assert math.isnan(ratio(1, 0))
    assert spread([]) == "-"
    assert spread([1.0]) == "1.000"
    assert spread([1.2, 0.9, 1.0]) == "0.900..1.200"


def test_table_right_aligns_numbers_and_pads_columns():
    text = table(["name", "n"], [["a", 1.5], ["long name", 200.0], ["b", math.nan]])
    assert text.splitlines() == [
        "| name      |     n |",
        "| --------- | ----: |",
        "| a         | 1.500 |",
        "| long name | 200.0 |",
        "| b         |     - |",
    ]


def test_interleaved_swaps_the_first_of_each_pair():
    assert interleaved(3) == [("vanilla", "patched"), ("patched", "vanilla"), ("vanilla", "patched")]


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        ([], False),
        ([0.64], False),  # one measurement: no noise measured, nothing resolved
        ([1.01, 1.04], True),  # agree within 0.10
        ([0.997, 1.26], False),  # a cold first deployment: wide, around 1
        ([0.86, 1.12, 0.95, 1.0], False),  # blocks of ti_run calls at +-13%
        ([0.40, 0.55, 0.48], True),  # wide, but below 1 by more than its width
        ([1.3, 1.5], True),  # above 1 by more than its width
        ([1.1, 1.3], False),  # above 1, but by no more than its width
        ([1.0, math.nan, 1.02], True),
    ],
)
def test_resolved(ratios, expected):
    assert resolved(ratios) is expected
