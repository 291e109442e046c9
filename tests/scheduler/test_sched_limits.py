"""Running-GPU limits: the right reason, and respected within one pass."""

from __future__ import annotations

import pytest
from sched_factory import job, policy, reasons, run, running, started

from mlrp.models.policy import Account, Partition, Qos
from mlrp.models.reasons import Reason
from mlrp.scheduler import LimitCounters, would_exceed

TWO_USERS = [Account(name="default", users=["alice", "bob"])]


@pytest.mark.parametrize(
    ("pol", "reason"),
    [
        (policy(qos=[Qos(name="normal", max_gpus_per_user=2)]), "QOSMaxGPUPerUser"),
        (policy(max_gpus_per_user=2), "AssocMaxGpuPerUser"),
        (
            policy(accounts=[Account(name="default", max_gpus_per_user=2)]),
            "AssocMaxGpuPerUser",
        ),
        (policy(accounts=[Account(name="default", max_gpus=2)]), "AssocGrpGPULimit"),
        (policy(partitions=[Partition(name="batch", max_gpus=2)]), "PartitionGPULimit"),
    ],
)
def test_two_jobs_of_one_user_only_one_starts(pol, reason):
    d = run([job(1, gpus=2), job(2, gpus=2)], pol=pol)
    assert started(d) == {1: (0, 1)}
    assert reasons(d) == {2: reason}


@pytest.mark.parametrize(
    ("pol", "other_starts"),
    [
        (policy(qos=[Qos(name="normal", max_gpus_per_user=2)]), True),
        (policy(max_gpus_per_user=2), True),
        (policy(accounts=[Account(name="default", max_gpus_per_user=2)]), True),
        (policy(accounts=[Account(name="default", max_gpus=2)]), False),  # a group limit
        (policy(partitions=[Partition(name="batch", max_gpus=2)]), False),
    ],
)
def test_per_user_limits_do_not_touch_other_users(pol, other_starts):
    d = run([job(1, gpus=2), job(2, gpus=2, user="bob")], pol=pol)
    assert (2 in started(d)) is other_starts


def test_running_jobs_count_toward_limits():
    pol = policy(qos=[Qos(name="normal", max_gpus_per_user=2)])
    r = running(90, user="alice", gpus=(0, 1))
    d = run([job(1, gpus=1)], [r], pol=pol)
    assert reasons(d) == {1: "QOSMaxGPUPerUser"}


def test_limits_are_per_qos():
    pol = policy(qos=[Qos(name="normal"), Qos(name="high", priority=10, max_gpus_per_user=1)])
    d = run([job(1, gpus=1, qos="high"), job(2, gpus=1, qos="high"), job(3, gpus=3)], pol=pol)
    assert set(started(d)) == {1, 3}
    assert reasons(d) == {2: "QOSMaxGPUPerUser"}


def test_account_limits_are_hierarchical():
    accounts = [
        Account(name="lab", max_gpus=3),
        Account(name="vision", parent="lab", users=["alice"]),
        Account(name="nlp", parent="lab", users=["bob"]),
    ]
    pol = policy(accounts=accounts)
    queue = [
        job(1, account="vision", gpus=2),
        job(2, account="nlp", user="bob", gpus=2),
        job(3, account="nlp", user="bob", gpus=1),
    ]
    d = run(queue, pol=pol)
    assert set(started(d)) == {1, 3}
    assert reasons(d) == {2: "AssocGrpGPULimit"}


def test_smaller_job_fits_under_the_limit_left():
    pol = policy(max_gpus_per_user=3)
    d = run([job(1, gpus=2), job(2, gpus=2), job(3, gpus=1)], pol=pol)
    assert set(started(d)) == {1, 3}
    assert reasons(d) == {2: "AssocMaxGpuPerUser"}


def test_job_needing_more_than_the_limit_waits_on_the_limit():
    pol = policy(partitions=[Partition(name="batch", max_gpus=2)])
    d = run([job(1, gpus=4)], pol=pol)
    assert reasons(d) == {1: "PartitionGPULimit"}


def test_zero_gpu_jobs_ignore_gpu_limits():
    pol = policy(max_gpus_per_user=0)
    d = run([job(1, gpus=0), job(2, gpus=1)], pol=pol)
    assert started(d) == {1: ()}
    assert reasons(d) == {2: "AssocMaxGpuPerUser"}


def test_array_throttle():
    r = running(90, user="alice", gpus=(0,), array_job_id=50)
    tasks = [job(i, gpus=1, array_job_id=50, array_throttle=2) for i in (51, 52, 53)]
    other = job(60, gpus=1, array_job_id=70, array_throttle=2)
    d = run([*tasks, other], [r])
    assert set(started(d)) == {51, 60}
    assert reasons(d) == {52: "JobArrayTaskLimit", 53: "JobArrayTaskLimit"}


def test_array_without_throttle_runs_all_it_can():
    tasks = [job(i, gpus=1, array_job_id=50) for i in range(51, 56)]
    assert set(started(run(tasks))) == set(range(51, 56))


def test_counters_directly():
    pol = policy(accounts=TWO_USERS, max_gpus_per_user=4)
    counters = LimitCounters.build(pol, (running(90, user="alice", gpus=(0, 1, 2)),))
    assert would_exceed(job(1, gpus=1), counters) is None
    assert would_exceed(job(1, gpus=2), counters) is Reason.ASSOC_MAX_GPU_PER_USER
    counters.add_job(job(1, gpus=1))
    assert would_exceed(job(2, gpus=1), counters) is Reason.ASSOC_MAX_GPU_PER_USER
    assert would_exceed(job(2, gpus=4, user="bob"), counters) is None


def test_unknown_account_partition_qos_have_no_limits():
    d = run([job(1, gpus=8, account="nowhere", partition="nope", qos="none")])
    assert set(started(d)) == {1}
