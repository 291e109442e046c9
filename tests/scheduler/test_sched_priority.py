"""Multifactor priority: age, job size, QOS, partition, nice."""

from __future__ import annotations

import pytest
from sched_factory import NOW, job, policy, run, running

from mlrp.models.policy import Partition, Qos, Weights
from mlrp.scheduler import PriorityContext, priority

DAY = 86400.0
ALL = Weights(age=1000, fairshare=10000, job_size=100, qos=2000, partition=1000)


def factors(j, pol=None, total_gpus=8, fairshare=None, now=NOW):
    return priority(j, now, pol or policy(weights=ALL), total_gpus, fairshare or {}).factors


@pytest.mark.parametrize(
    ("waited", "age"),
    [(-50.0, 0.0), (0.0, 0.0), (DAY / 2, 0.5), (DAY, 1.0), (3 * DAY, 1.0)],
)
def test_age_saturates_at_age_max(waited, age):
    pol = policy(age_max=DAY)
    assert factors(job(1, submit_time=NOW - waited), pol)["age"] == pytest.approx(age)


def test_age_counts_from_begin_time():
    pol = policy(age_max=DAY)
    j = job(1, submit_time=NOW - DAY, begin_time=NOW - DAY / 4)
    assert factors(j, pol)["age"] == pytest.approx(0.25)


def test_old_jobs_tie_on_age():
    pol = policy(age_max=DAY)
    queue = [job(1, submit_time=NOW - 5 * DAY), job(2, submit_time=NOW - 2 * DAY)]
    d = run(queue, [running(90, gpus=range(8))], pol=pol)
    assert d.pending[1].priority.total == d.pending[2].priority.total
    # ... then the earlier submission wins the tie.
    assert d.pending[1].position == 1


def test_job_size_favours_large_jobs():
    assert factors(job(1, gpus=2))["job_size"] == 0.25
    assert factors(job(1, gpus=8))["job_size"] == 1.0
    assert factors(job(1, gpus=0))["job_size"] == 0.0
    assert factors(job(1, gpus=4), total_gpus=0)["job_size"] == 0.0


def test_qos_and_partition_factors():
    pol = policy(
        qos=[Qos(name="normal"), Qos(name="high", priority=100), Qos(name="mid", priority=50)],
        partitions=[Partition(name="batch"), Partition(name="interactive", priority_tier=2)],
    )
    assert factors(job(1, qos="mid"), pol)["qos"] == 0.5
    assert factors(job(1, qos="high"), pol)["qos"] == 1.0
    assert factors(job(1, qos="unknown"), pol)["qos"] == 0.0
    assert factors(job(1, partition="interactive"), pol)["partition"] == 1.0
    assert factors(job(1, partition="batch"), pol)["partition"] == 0.0


def test_all_zero_qos_and_tiers_give_zero():
    f = factors(job(1))
    assert f["qos"] == 0.0 and f["partition"] == 0.0


def test_total_is_weighted_sum_minus_nice():
    pol = policy(weights=ALL, age_max=DAY, qos=[Qos(name="normal", priority=1)])
    j = job(1, gpus=4, submit_time=NOW - DAY / 2, nice=25)
    b = priority(j, NOW, pol, 8, {("default", "alice"): 0.5})
    assert b.factors == {"age": 0.5, "fairshare": 0.5, "job_size": 0.5, "qos": 1.0,
                         "partition": 0.0}  # fmt: skip
    assert b.weighted == {"age": 500.0, "fairshare": 5000.0, "job_size": 50.0, "qos": 2000.0,
                          "partition": 0.0}  # fmt: skip
    assert b.nice == 25
    assert b.total == pytest.approx(7550.0 - 25)


def test_nice_lowers_priority():
    queue = [job(1, nice=500), job(2)]
    d = run(queue, [running(90, gpus=range(8))], pol=policy(weights=ALL))
    assert d.pending[2].position == 1
    assert d.pending[1].priority.total == pytest.approx(d.pending[2].priority.total - 500, abs=1)


def test_negative_nice_raises_priority():
    queue = [job(1), job(2, nice=-100)]
    d = run(queue, [running(90, gpus=range(8))])
    assert d.pending[2].position == 1


def test_context_breakdown_matches_priority():
    pol = policy(weights=ALL)
    ctx = PriorityContext.build(pol, 8, {})
    j = job(1, gpus=3)
    assert ctx.breakdown(j, NOW) == priority(j, NOW, pol, 8, {})
