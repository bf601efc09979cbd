"""Pure helpers of ``./bench.sh``: percentiles, summaries, ratios and tables (no Airflow, no I/O)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, mean, stdev, min, p50, p95, p99, max of ``values``."""
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# How closely independent measurements of one ratio must agree for a run to state it.
RESOLUTION = 0.10


def resolved(ratios: Sequence[float], resolution: float = RESOLUTION) -> bool:
    """Whether independent measurements of one ratio (blocks, rounds, repeats) resolve it from noise.

    It takes at least two, and their range (the noise between them, as far as the run can tell) must
    either be at most ``resolution`` wide (the ratio is known to about half that) or lie on one side
    of 1 by more than its own width (a difference larger than the noise). One measurement, or a wide
    range around 1, resolves nothing.
    """
    values = [r for r in ratios if not math.isnan(r)]
    if len(values) < 2:
        return False
    low, high = min(values), max(values)
    width = high - low
    return width <= resolution or low - 1 > width or 1 - high > width


def spread(values: Sequence[float]) -> str:
    """``min..max`` of a few values (per-round ratios), or the value when there is one."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{min(values):.3f}..{max(values):.3f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (GitHub style) whose columns are padded, so it also reads as plain text."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) and bool(rows) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        ("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, numeric, strict=True)
    )
    return "\n".join([line(cells[0]), rule + " |", *(line(row) for row in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
