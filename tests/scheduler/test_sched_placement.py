"""GPU choice: gang, NVLink-group preference, GPU model constraint."""

from __future__ import annotations

import pytest
from sched_factory import job, run, running, started

from mlrp.models.reasons import Reason
from mlrp.scheduler import GpuSlot, choose_gpus, place

GROUPS = ((0, 1, 2, 3), (4, 5, 6, 7))


@pytest.mark.parametrize(
    ("n", "free", "expected"),
    [
        (0, [], ()),
        (1, [3], (3,)),
        (2, [0], None),  # gang: all or nothing
        (4, range(8), (0, 1, 2, 3)),
        (4, [1, 2, 3, 4, 5, 6, 7], (4, 5, 6, 7)),  # whole group beats lowest indices
        (2, [0, 1, 2, 3, 5, 6, 7], (5, 6)),  # best fit: keep group 0-3 whole
        (2, range(8), (0, 1)),  # tie: lowest indices
        (4, [1, 2, 3, 5, 6, 7], (1, 2, 3, 5)),  # no group fits: lowest indices
        (8, range(8), tuple(range(8))),
    ],
)
def test_place_with_nvlink_groups(n, free, expected):
    assert place(n, free, GROUPS) == expected


def test_place_without_groups_takes_lowest():
    assert place(3, [7, 2, 5, 4]) == (2, 4, 5)


def test_place_filters_gpu_type_case_insensitively():
    models = {0: "a100", 1: "h200", 2: "a100", 3: "h200"}
    assert place(2, range(4), gpu_type="H200", models=models) == (1, 3)
    assert place(3, range(4), gpu_type="h200", models=models) is None


def test_choose_gpus_ignores_groups_too_small():
    assert choose_gpus(3, [0, 1, 2, 3], [frozenset({0, 1}), frozenset({2, 3})]) == (0, 1, 2)


def test_decide_prefers_one_nvlink_group():
    r = running(90, gpus=(0,))
    d = run([job(1, gpus=4), job(2, gpus=2)], [r], link_groups=GROUPS)
    assert started(d) == {1: (4, 5, 6, 7), 2: (1, 2)}


def test_decide_without_link_groups_takes_lowest():
    r = running(90, gpus=(0,))
    d = run([job(1, gpus=4)], [r])
    assert started(d) == {1: (1, 2, 3, 4)}


MIXED = tuple(GpuSlot(i, "a100" if i < 4 else "h200") for i in range(8))


def test_gpu_type_constraint():
    d = run([job(1, gpus=2, gpu_type="H200"), job(2, gpus=1, gpu_type="a100")], slots=MIXED)
    assert started(d) == {1: (4, 5), 2: (0,)}


def test_gpu_type_with_too_few_gpus_of_that_model_never_starts():
    d = run([job(1, gpus=5, gpu_type="a100"), job(2, gpus=5)], slots=MIXED)
    assert started(d) == {2: (0, 1, 2, 3, 4)}
    assert d.pending[1].reason is Reason.RESOURCES
    assert d.pending[1].expected_start is None


def test_gpu_type_busy_while_other_models_are_free():
    slots = tuple(GpuSlot(i, "a100" if i < 4 else "h200", 90 if i >= 4 else None) for i in range(8))
    r = running(90, gpus=(4, 5, 6, 7), time_limit=1000)
    d = run([job(1, gpus=2, gpu_type="h200"), job(2, gpus=1, gpu_type="a100")], [r], slots=slots)
    assert d.pending[1].reason is Reason.GPU_MODEL_BUSY
    assert d.pending[1].expected_start == r.start_time + r.time_limit
    # The reservation is on h200 GPUs only: an a100 job of any length still starts.
    assert started(d) == {2: (0,)}


def test_untyped_job_may_use_any_model():
    d = run([job(1, gpus=6)], slots=MIXED)
    assert started(d) == {1: (0, 1, 2, 3, 4, 5)}
