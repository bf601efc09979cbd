"""How much ``./bench.sh`` measures: the full profile (docs/benchmarks.md's results) and the quick one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    ti_run_calls: int  # per case and installation, in ti_run_blocks blocks
    ti_run_blocks: int
    serialization_tasks: int
    serialization_rounds: int
    throughput_tasks: int
    throughput_rounds: int
    parallelism: int
    checkpoint_calls: int
    recovery_records: int
    recovery_every: int
    recovery_hash_rounds: int  # sha256 rounds per record: the fixed cost of a record
    recovery_repeats: int
    recovery_points: tuple[float, ...] = (0.1, 0.5, 0.9, 0.99)

    ti_run_warmup: int = 10  # calls per case before measuring
    # One deployment of each installation before the rounds that count, with this many tasks and
    # checkpoint calls: a cold first deployment (imports, page cache) ran 24% slower than a warm one.
    warmup_tasks: int = 50
    warmup_checkpoint_calls: int = 20
    concurrent_serialization: bool = False  # bytes and hashes do not depend on timing; to_dict's does
    # Serialize while the template database is migrated and the ti_run probes set up (not measured).
    overlap_setup: bool = False
    # The two installations' deployments of a round at the same time, sharing the machine.
    concurrent_deployments: bool = False


# Two rounds of deployments (ABBA) after a warm-up deployment each, and three of recovery: about
# 30 minutes on a quiet 2-core machine.
FULL = Profile(
    "full",
    ti_run_calls=1000,
    ti_run_blocks=4,
    serialization_tasks=1000,
    serialization_rounds=1,
    throughput_tasks=500,
    throughput_rounds=2,
    parallelism=4,
    checkpoint_calls=1000,
    recovery_records=1_000_000,
    recovery_every=10_000,
    recovery_hash_rounds=4,
    recovery_repeats=3,
)
QUICK = Profile(
    "quick",
    ti_run_calls=100,
    ti_run_blocks=2,
    serialization_tasks=1000,
    serialization_rounds=1,
    throughput_tasks=20,
    throughput_rounds=1,
    parallelism=4,
    checkpoint_calls=50,
    recovery_records=500_000,
    recovery_every=5_000,
    recovery_hash_rounds=1,
    recovery_repeats=1,
    recovery_points=(0.5, 0.99),
    ti_run_warmup=5,
    warmup_tasks=10,
    warmup_checkpoint_calls=10,
    concurrent_serialization=True,
    overlap_setup=True,
    concurrent_deployments=True,
)
