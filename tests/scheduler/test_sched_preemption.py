"""Preemption decisions: only of a QOS the job's QOS lists, only for a job blocked by
resources, victims chosen to lose the least work, and never twice for one need."""

from __future__ import annotations

from sched_factory import NOW, job, policy, run, running, started

from mlrp.models.policy import Qos
from mlrp.scheduler import GpuSlot

QOS = [
    Qos(name="normal", preempt=["scavenger"]),
    Qos(name="high", priority=100, preempt=["scavenger", "normal"]),
    Qos(name="scavenger"),
]


def victims(decisions: object) -> dict[int, tuple[int, ...]]:
    return {p.job_id: p.victims for p in decisions.preemptions}  # type: ignore[attr-defined]


def test_blocked_job_preempts_a_scavenger_job() -> None:
    scav = running(1, qos="scavenger", gpus=range(8))
    d = run([job(2, gpus=4)], [scav], pol=policy(qos=QOS))
    assert victims(d) == {2: (1,)}
    assert started(d) == {}  # it starts once the victim is gone


def test_nothing_is_preempted_unless_the_qos_lists_the_victims_qos() -> None:
    other = running(1, qos="normal", gpus=range(8))
    d = run([job(2, gpus=4, qos="normal")], [other], pol=policy(qos=QOS))
    assert victims(d) == {}
    unconfigured = [Qos(name="normal"), Qos(name="scavenger")]
    scav = running(1, qos="scavenger", gpus=range(8))
    assert victims(run([job(2, gpus=4)], [scav], pol=policy(qos=unconfigured))) == {}


def test_a_job_that_fits_preempts_nothing() -> None:
    scav = running(1, qos="scavenger", gpus=range(4))
    d = run([job(2, gpus=4)], [scav], pol=policy(qos=QOS))
    assert 2 in started(d) and victims(d) == {}


def test_victims_are_the_jobs_that_lose_the_least_work() -> None:
    # Four 2-GPU scavenger jobs started at different times; 4 GPUs are needed.
    jobs = [
        running(10 + k, qos="scavenger", gpus=(2 * k, 2 * k + 1), start_time=NOW - age)
        for k, age in enumerate((5000, 100, 3000, 50))
    ]
    d = run([job(2, gpus=4)], jobs, pol=policy(qos=QOS))
    assert set(victims(d)[2]) == {11, 13}  # the two youngest


TWO_NODES = tuple(GpuSlot(i, "a100", node=f"n{i // 8}") for i in range(16))


def test_victims_are_taken_on_the_node_where_they_lose_least_in_all() -> None:
    # n0's two youngest jobs lose 2x50 + 2x60 = 220 GPU-seconds; n1's 4-GPU job, though
    # older than either, loses 4x40 = 160: the job goes to n1.
    scavengers = [
        running(1, qos="scavenger", gpus=range(0, 4), start_time=NOW - 5000),
        running(2, qos="scavenger", gpus=(4, 5), start_time=NOW - 50),
        running(3, qos="scavenger", gpus=(6, 7), start_time=NOW - 60),
        running(4, qos="scavenger", gpus=range(8, 12), start_time=NOW - 40),
        running(5, qos="scavenger", gpus=range(12, 16), start_time=NOW - 9000),
    ]
    d = run([job(9, gpus=4)], scavengers, slots=TWO_NODES, pol=policy(qos=QOS))
    assert victims(d) == {9: (4,)}


def test_victims_that_lose_as_much_on_two_nodes_are_taken_on_the_first() -> None:
    scavengers = [
        running(2, qos="scavenger", gpus=range(0, 4), start_time=NOW - 100),
        running(1, qos="scavenger", gpus=range(8, 12), start_time=NOW - 100),
    ]
    busy = [running(3, gpus=range(4, 8)), running(4, gpus=range(12, 16))]
    d = run([job(9, gpus=4)], scavengers + busy, slots=TWO_NODES, pol=policy(qos=QOS))
    assert victims(d) == {9: (2,)}  # on n0, although job 1 comes first by id


def test_gpus_already_being_freed_are_not_preempted_for_twice() -> None:
    leaving = running(1, qos="scavenger", gpus=range(4), preempting=True)
    other = running(2, qos="scavenger", gpus=range(4, 8))
    d = run([job(3, gpus=4)], [leaving, other], pol=policy(qos=QOS))
    assert victims(d) == {}
    # and the job's reservation is on the GPUs that are being freed, now
    assert d.pending[3].expected_start == NOW


def test_higher_qos_may_preempt_normal_when_configured() -> None:
    normal = running(1, qos="normal", gpus=range(8))
    d = run([job(2, gpus=8, qos="high")], [normal], pol=policy(qos=QOS))
    assert victims(d) == {2: (1,)}


def test_not_enough_preemptible_gpus_preempts_nothing() -> None:
    scav = running(1, qos="scavenger", gpus=range(2))
    normal = running(2, qos="normal", gpus=range(2, 8))
    d = run([job(3, gpus=4)], [scav, normal], pol=policy(qos=QOS))
    assert victims(d) == {}


def test_requeued_victim_waits_for_its_preemptor() -> None:
    # The victim (older, so ahead by age) came back to the queue; its preemptor is
    # still pending: the preemptor gets the GPUs.
    victim = job(1, gpus=8, qos="scavenger", yield_to=2, submit_time=0.0)
    preemptor = job(2, gpus=8, submit_time=500.0)
    d = run([victim, preemptor], pol=policy(qos=QOS))
    assert list(started(d)) == [2]
    # Once the preemptor is no longer pending, the victim is free to run.
    assert list(started(run([victim], pol=policy(qos=QOS)))) == [1]


def test_two_victims_of_each_other_never_wait_for_each_other() -> None:
    # Job 1 was preempted for job 2, which then ran and was preempted for job 1: both
    # are back in the queue, each marked as yielding to the other. Neither may wait for
    # the other forever: the GPUs are free, and the first in priority order starts.
    first = job(1, gpus=4, yield_to=2, submit_time=0.0)
    second = job(2, gpus=8, yield_to=1, submit_time=10.0)
    d = run([first, second], pol=policy(qos=QOS))
    assert list(started(d)) == [1]
    assert d.pending[2].reason == "Resources"
    # a victim whose preemptor is not itself yielding still waits for it
    third = job(3, gpus=1, yield_to=4, submit_time=0.0)
    preemptor = job(4, gpus=8, submit_time=10.0)
    assert list(started(run([third, preemptor], pol=policy(qos=QOS)))) == [4]


def test_a_preemptor_waits_with_reason_preempting_until_its_victims_stop() -> None:
    normal = running(1, qos="normal", gpus=range(8))
    urgent = job(2, gpus=8, qos="high")
    first = run([urgent], [normal], pol=policy(qos=QOS))
    assert victims(first) == {2: (1,)} and first.pending[2].reason == "Preempting"
    # next pass: the victim is still stopping (its grace time); nothing new to stop
    stopping = running(1, qos="normal", gpus=range(8), preempting=True, preempted_for=2)
    later = run([urgent], [stopping], pol=policy(qos=QOS))
    assert victims(later) == {} and later.pending[2].reason == "Preempting"
    # a job blocked behind GPUs freeing for another job just waits for resources
    other = job(3, gpus=8, qos="high")
    both = run([urgent, other], [stopping], pol=policy(qos=QOS, reservations=2))
    assert both.pending[3].reason in {"Resources", "Priority"}
