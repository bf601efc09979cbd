"""The pure helpers behind ``./bench.sh``: percentiles, summaries and tables (no timing here)."""

from __future__ import annotations

import math

import pytest

from patched_airflow.bench_runner import interleaved
from patched_airflow.benchstats import percentile, ratio, spread, summarize, table


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
