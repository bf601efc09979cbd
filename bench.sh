#!/usr/bin/env bash
# Benchmark a line's vanilla Airflow release against its patched build, side by side, in one run:
# task start (ti_run), serialization, scheduler throughput, recovery from a checkpoint, checkpoint
# cost. A full run writes the line's results section of docs/benchmarks.md and its recovery plot.
#   ./bench.sh [--line LINE] [--quick] [--backend auto|postgres|sqlite] [--no-docs] [--report RESULTS_JSON]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" bench "$@"
