#!/usr/bin/env bash
# Benchmark vanilla apache-airflow 3.3.2 against the patched build, side by side, in one run:
# task start (ti_run), serialization, scheduler throughput, recovery from a checkpoint, checkpoint
# cost. A full run writes docs/benchmarks.md's results and docs/benchmarks-recovery.png.
#   ./bench.sh [--quick] [--backend auto|postgres|sqlite] [--no-docs]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
exec "${TOOL[@]}" bench "$@"
