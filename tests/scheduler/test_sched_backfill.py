"""Decision tests for the queue walk: gang starts, reservations, EASY backfill."""

from __future__ import annotations

import pytest
from sched_factory import NOW, job, policy, reasons, run, running, started

from mlrp.models.policy import Qos
from mlrp.models.reasons import Reason
from mlrp.scheduler import GpuSlot


def test_empty_snapshot_decides_nothing():
    decisions = run()
    assert decisions.starts == ()
    assert dict(decisions.pending) == {}


def test_jobs_start_in_priority_order_on_lowest_gpus():
    d = run([job(1, gpus=2), job(2, gpus=3)])
    assert started(d) == {1: (0, 1), 2: (2, 3, 4)}


def test_gang_never_partial():
    # 5 of 8 GPUs busy: a 4-GPU job does not start on the 3 free ones.
    r = running(90, gpus=range(5), start_time=NOW - 100, time_limit=1100)
    d = run([job(1, gpus=4)], [r])
    assert d.starts == ()
    info = d.pending[1]
    assert info.reason is Reason.RESOURCES
    assert info.expected_start == NOW + 1000  # when the running job is expected to end
    assert info.position == 1


def test_three_free_gpus_take_a_three_gpu_job():
    r = running(90, gpus=range(5))
    assert started(run([job(1, gpus=3)], [r])) == {1: (5, 6, 7)}


# GPUs 0-5 busy until NOW+900; the top job wants all 8 GPUs, so its reservation holds
# the free GPUs 6 and 7 from NOW+900 on.
BUSY = running(90, gpus=range(6), start_time=NOW - 100, time_limit=1000)


def blocked_queue():
    return [
        job(1, gpus=8),
        job(2, gpus=1, time_limit=600),  # ends NOW+600 <= NOW+900: can backfill
        job(3, gpus=1, time_limit=2000),  # would still hold a GPU at NOW+900
    ]


def test_backfill_short_job_starts_long_job_waits():
    d = run(blocked_queue(), [BUSY])
    assert started(d) == {2: (6,)}
    assert d.pending[1].reason is Reason.RESOURCES
    assert d.pending[1].expected_start == NOW + 900
    assert d.pending[3].reason is Reason.PRIORITY
    assert d.pending[3].expected_start is None


def test_backfill_job_ending_exactly_at_reservation_starts():
    d = run([job(1, gpus=8), job(2, gpus=2, time_limit=900)], [BUSY])
    assert started(d) == {2: (6, 7)}


def test_backfill_may_use_gpus_outside_the_reservation():
    # The top job wants 4 GPUs: at NOW+900 it gets 0-3, so 6 and 7 stay free for any
    # job, however long.
    d = run([job(1, gpus=4), job(2, gpus=2, time_limit=10**6)], [BUSY])
    assert started(d) == {2: (6, 7)}
    assert d.pending[1].expected_start == NOW + 900


def test_backfill_disabled_nothing_passes_the_blocked_top_job():
    d = run(blocked_queue(), [BUSY], pol=policy(backfill=False))
    assert d.starts == ()
    assert reasons(d) == {1: "Resources", 2: "Priority", 3: "Priority"}
    assert d.pending[1].expected_start == NOW + 900


def test_backfill_disabled_still_starts_jobs_above_the_block():
    d = run([job(1, gpus=2), job(2, gpus=8), job(3, gpus=1)], [BUSY], pol=policy(backfill=False))
    assert started(d) == {1: (6, 7)}
    assert reasons(d) == {2: "Resources", 3: "Priority"}


def test_jobs_started_in_the_pass_count_for_reservations():
    d = run([job(1, gpus=6, time_limit=500), job(2, gpus=4)])
    assert started(d) == {1: (0, 1, 2, 3, 4, 5)}
    assert d.pending[2].reason is Reason.RESOURCES
    assert d.pending[2].expected_start == NOW + 500


@pytest.mark.parametrize(
    ("reservations", "expected"),
    [
        (1, {1: NOW + 900, 2: None}),
        (2, {1: NOW + 900, 2: NOW + 900 + 3600}),
    ],
)
def test_only_the_top_n_blocked_jobs_get_reservations(reservations, expected):
    pol = policy(reservations=reservations)
    d = run([job(1, gpus=8, time_limit=3600), job(2, gpus=8)], [BUSY], pol=pol)
    assert {i: d.pending[i].expected_start for i in (1, 2)} == expected
    assert d.pending[1].reason is Reason.RESOURCES
    assert d.pending[2].reason is (Reason.RESOURCES if reservations == 2 else Reason.PRIORITY)


def test_second_reservation_protected_too():
    # Reservations: job 1 (8 GPUs) at NOW+900..NOW+1900, job 2 (2 GPUs) after it.
    # A 1-GPU job of 5000 s would delay job 1 whatever GPU it takes.
    pol = policy(reservations=2)
    queue = [job(1, gpus=8, time_limit=1000), job(2, gpus=2), job(3, gpus=1, time_limit=5000)]
    d = run(queue, [BUSY], pol=pol)
    assert d.starts == ()
    assert d.pending[2].expected_start == NOW + 1900
    assert d.pending[3].reason is Reason.PRIORITY


def test_later_reservation_can_use_a_gap_before_an_earlier_one():
    # GPU 7 is free; GPUs 0-6 busy until NOW+900. Job 1 (8 GPUs) reserves all at
    # NOW+900; job 2 (1 GPU, 100 s) fits before it and simply starts now.
    r = running(90, gpus=range(7), start_time=NOW - 100, time_limit=1000)
    d = run([job(1, gpus=8), job(2, gpus=1, time_limit=100)], [r])
    assert started(d) == {2: (7,)}


def test_job_larger_than_the_machine_waits_for_resources_and_blocks_nothing():
    for pol in (policy(), policy(backfill=False)):
        d = run([job(1, gpus=9), job(2, gpus=1)], pol=pol)
        assert started(d) == {2: (0,)}
        assert d.pending[1].reason is Reason.RESOURCES
        assert d.pending[1].expected_start is None


def test_unknown_gpu_type_waits_for_resources_and_blocks_nothing():
    d = run([job(1, gpus=1, gpu_type="v100"), job(2, gpus=1)], pol=policy(backfill=False))
    assert started(d) == {2: (0,)}
    assert d.pending[1].reason is Reason.RESOURCES


def test_gpu_held_by_an_unknown_job_never_frees():
    slots = tuple(GpuSlot(i, "a100", 77 if i < 6 else None) for i in range(8))
    d = run([job(1, gpus=4), job(2, gpus=1)], slots=slots)
    assert d.pending[1].reason is Reason.RESOURCES
    assert d.pending[1].expected_start is None
    # Without a reservation, nothing protects job 1: job 2 starts.
    assert started(d) == {2: (6,)}


def test_overrunning_job_is_expected_to_end_now():
    r = running(90, gpus=range(8), start_time=NOW - 5000, time_limit=1000)
    d = run([job(1, gpus=1)], [r])
    assert d.pending[1].expected_start == NOW


def test_zero_gpu_job_always_fits():
    r = running(90, gpus=range(8))
    d = run([job(1, gpus=8), job(2, gpus=0, time_limit=10**6)], [r])
    assert started(d) == {2: ()}


def test_limit_blocked_job_does_not_block_the_queue():
    pol = policy(qos=[Qos(name="normal", max_gpus_per_user=4)])
    r = running(90, user="alice", gpus=(0,))
    queue = [job(1, user="alice", gpus=4), job(2, user="carol", gpus=4)]
    d = run(queue, [r], pol=pol, now=NOW)
    assert started(d) == {2: (1, 2, 3, 4)}
    assert d.pending[1].reason is Reason.QOS_MAX_GPU_PER_USER


def test_positions_rank_all_pending_jobs_by_priority():
    queue = [job(3, held=True), job(1, gpus=8), job(2, gpus=8), job(4, gpus=9)]
    d = run(queue, [BUSY])
    assert {i: info.position for i, info in d.pending.items()} == {1: 1, 2: 2, 3: 3, 4: 4}


def test_ties_broken_by_submit_time_then_id():
    queue = [job(5, submit_time=10.0), job(4, submit_time=10.0), job(3, submit_time=5.0)]
    r = running(90, gpus=range(8))
    d = run(queue, [r], pol=policy(weights={"age": 0, "fairshare": 0, "job_size": 0,
                                          "qos": 0, "partition": 0}))  # fmt: skip
    assert [d.pending[i].position for i in (3, 4, 5)] == [1, 2, 3]


def test_pending_view_is_a_mapping_and_builds_breakdowns():
    d = run([job(1, gpus=9)])
    assert list(d.pending) == [1]
    assert len(d.pending) == 1 and 1 in d.pending and 2 not in d.pending
    assert d.pending.get(2) is None
    assert d.pending[1] is d.pending[1]
    assert set(d.pending[1].priority.factors) == {
        "age", "fairshare", "job_size", "qos", "partition",
    }  # fmt: skip
    assert "PendingView" in repr(d.pending)


def test_a_job_with_no_possible_time_does_not_use_up_the_reservation():
    # h200 GPUs are held by a job the snapshot does not know: they never free up.
    slots = tuple(GpuSlot(i, "a100" if i < 4 else "h200", 90 if i < 4 else 77) for i in range(8))
    r = running(90, gpus=range(4), start_time=NOW - 100, time_limit=600)
    queue = [job(1, gpus=2, gpu_type="h200"), job(2, gpus=4, gpu_type="a100"), job(3, gpus=1)]
    d = run(queue, [r], slots=slots)
    assert d.pending[1].reason is Reason.RESOURCES and d.pending[1].expected_start is None
    assert d.pending[2].reason is Reason.RESOURCES
    assert d.pending[2].expected_start == NOW + 500
    assert d.pending[3].reason is Reason.PRIORITY
