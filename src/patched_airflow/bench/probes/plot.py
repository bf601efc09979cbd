"""The recovery plot: retry wall time against failure point, flagged and unflagged (matplotlib)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    data = json.loads(Path(sys.argv[1]).read_text())
    rows = data["recovery"]
    points = [100 * row["fraction"] for row in rows]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for key, label, marker in (
        ("unflagged", "unflagged (restarts at 0)", "o"),
        ("flagged", "persist_xcom_through_retry=True", "s"),
    ):
        medians = [row[key]["retry_s"] for row in rows]
        axes.plot(points, medians, marker=marker, label=label)
        for x, row in zip(points, rows, strict=True):
            axes.scatter(
                [x] * len(row[key]["retry_all"]),
                row[key]["retry_all"],
                s=10,
                alpha=0.4,
                color=axes.lines[-1].get_color(),
            )
    unflagged = [row["unflagged"]["retry_s"] for row in rows]
    mean = sum(unflagged) / len(unflagged)
    axes.plot(
        points,
        [mean * (1 - x / 100) for x in points],
        linestyle="--",
        color="grey",
        label="work left x mean unflagged retry",
    )
    axes.set_xlabel(f"failure point of the first try (% of {data['records']:,} records)")
    axes.set_ylabel("wall time of the retry (s)")
    axes.set_title(f"Retry after one failure: checkpoint every {data['every']:,} records")
    axes.set_xticks(points)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(data["target"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
