"""A Machine asked by model, on a cluster of one model (counts kept once, for all GPUs)
and of two: asking for the model a cluster has only must read as asking for any GPU,
through starts and releases; a model it lacks has no GPUs."""

from __future__ import annotations

from sched_factory import NOW

from mlrp.scheduler import GpuSlot
from mlrp.scheduler.backfill import Machine


def _slots(models: list[str], per_node: int = 4) -> tuple[GpuSlot, ...]:
    return tuple(GpuSlot(i, m, node=f"n{i // per_node}") for i, m in enumerate(models))


def test_one_model_reads_as_any_gpu_through_starts_and_releases() -> None:
    machine = Machine(NOW, _slots(["a100"] * 8))
    first = machine.try_place(3, "a100", NOW + 600)
    assert first == machine.try_place(3, None, NOW + 600) == (0, 1, 2)
    machine.start(first, NOW + 600)
    second = machine.try_place(2, "a100", NOW + 900)
    assert second == (4, 5)  # best fit: the node with 4 free, not the one with 1
    machine.start(second, NOW + 900)
    assert machine.free_count("a100") == machine.free_count(None) == 3
    assert machine.node_free(0, "a100") == 1
    assert machine.most_free_on_a_node("a100") == 2
    machine.release(first)
    assert machine.free_count("a100") == 6
    assert list(machine.nodes_with_free(4, "a100")) == [0]
    now = machine.reserve(7, 4, "a100", 600)
    later = machine.reserve(8, 4, "a100", 600)  # node 0 after that one (node 1: +900 s)
    assert now is not None and (now.start, now.gpus) == (NOW, (0, 1, 2, 3))
    assert later is not None and (later.start, later.gpus) == (NOW + 600, (0, 1, 2, 3))
    assert machine.free_count("h100") == 0
    assert machine.try_place(1, "h100", NOW + 60) is None
    assert machine.reserve(9, 1, "h100", 60) is None


def test_two_models_keep_separate_counts() -> None:
    machine = Machine(NOW, _slots(["a100"] * 4 + ["h100"] * 4))
    gpus = machine.try_place(2, "h100", NOW + 600)
    assert gpus == (4, 5)
    machine.start(gpus, NOW + 600)
    assert machine.free_count("h100") == 2
    assert machine.free_count("a100") == 4
    assert machine.free_count(None) == 6
    assert machine.try_place(3, "h100", NOW + 60) is None
    assert machine.try_place(3, None, NOW + 60) == (0, 1, 2)
