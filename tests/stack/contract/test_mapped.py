"""200 flagged mapped task instances, each failing once: each resumes from its own checkpoint."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

DAG = "stack_mapped"
RUN_TIMEOUT = 900  # 400 task runs
MAP_SIZE = 200


def test_every_map_index_was_retried_once(stack, run_id):
    tis = stack.task_instances(DAG, run_id, "checkpoint")
    assert sorted(ti["map_index"] for ti in tis) == list(range(MAP_SIZE))
    assert {(ti["state"], ti["try_number"]) for ti in tis} == {("success", 2)}


def test_each_map_index_resumed_from_its_own_checkpoint(stack, run_id):
    def found(index):
        return (
            stack.xcom(DAG, run_id, "checkpoint", "return_value", map_index=index),
            stack.xcom(DAG, run_id, "checkpoint", "checkpoint", map_index=index),
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = dict(enumerate(pool.map(found, range(MAP_SIZE))))
    wrong = {
        index: seen[index]
        for index in range(MAP_SIZE)
        if seen[index]
        != ({"index": index, "resumed_from": f"checkpoint of {index}"}, f"checkpoint of {index}")
    }
    assert not wrong, f"{len(wrong)} map indexes did not resume from their own checkpoint: {wrong}"


def test_downstream_reads_every_map_index(stack, run_id):
    assert stack.xcom(DAG, run_id, "collect") == [f"checkpoint of {index}" for index in range(MAP_SIZE)]
