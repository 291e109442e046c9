"""A ClusterState kept between passes must decide exactly as a pass that rebuilds
everything from its snapshot: the simulator relies on it."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from sched_factory import job, policy
from sched_factory import running as running_job
from test_sched_properties import SETTINGS, snapshots

from mlrp.models.policy import Account
from mlrp.scheduler import (
    ClusterState,
    Decisions,
    GpuSlot,
    QueuedJob,
    RunningJob,
    Snapshot,
    Start,
    decide,
)


def state_for(snap: Snapshot) -> ClusterState:
    """A state told of the snapshot's pending and running jobs one change at a time."""
    known = {g for r in snap.running for g in r.gpus}
    slots = [replace(s, job_id=None) if s.index in known else s for s in snap.gpus]
    state = ClusterState(slots, snap.link_groups, snap.switches)
    for queued in snap.pending:
        state.queue(queued)
    for running in snap.running:
        state.start(running)
    return state


def outcome(d: Decisions) -> tuple[object, ...]:
    return (
        [(s.job_id, s.gpus) for s in d.starts],
        [(p.job_id, p.victims, p.gpus) for p in d.preemptions],
        {job_id: (info.reason, info.expected_start) for job_id, info in d.pending.items()},
    )


@SETTINGS
@given(snapshots(busy=True), st.sampled_from([0, 1, 2, 3]))
def test_kept_state_decides_as_a_fresh_pass(snap: Snapshot, per_node: int) -> None:
    if per_node:  # GPUs spread over nodes, so that best fit has nodes to choose from
        slots = tuple(replace(s, node=f"n{s.index // per_node}") for s in snap.gpus)
        snap = replace(snap, gpus=slots)
    assert outcome(decide(snap, state_for(snap))) == outcome(decide(snap))


@SETTINGS
@given(snapshots())
def test_kept_state_decides_as_a_fresh_pass_with_holds_and_dependencies(snap: Snapshot) -> None:
    assert outcome(decide(snap, state_for(snap))) == outcome(decide(snap))


def test_released_gpus_are_placed_again_and_unqueued_jobs_never_start() -> None:
    slots = [GpuSlot(i, "a100", node=f"n{i // 2}") for i in range(4)]
    first, second, third = job(1, gpus=2), job(2, gpus=2), job(3, gpus=2)
    state = ClusterState(slots)
    for j in (first, second, third):
        state.queue(j)
    snap = Snapshot(now=0.0, policy=policy(), gpus=tuple(slots), pending=(first, second, third),
                    running=())  # fmt: skip
    starts = decide(snap, state).starts
    assert [s.job_id for s in starts] == [1, 2]
    runs = [running_job(s.job_id, gpus=s.gpus, start_time=0.0, time_limit=3600) for s in starts]
    for run in runs:
        state.unqueue(first if run.id == 1 else second)
        state.start(run)
    state.unqueue(third)
    state.stop(runs[0])
    later = replace(snap, now=10.0, pending=())
    assert decide(later, state).starts == ()
    fourth = job(4, gpus=2)
    state.queue(fourth)
    again = decide(replace(later, pending=(fourth,)), state)
    assert [(s.job_id, s.gpus) for s in again.starts] == [(4, starts[0].gpus)]


def test_a_pass_reads_its_queue_as_it_was_after_the_state_changes() -> None:
    # Jobs 1-3 (one class) wait behind job 4, which holds the GPUs. The simulator reads
    # a pass's pending reasons after it has already queued and unqueued later jobs.
    slots = [GpuSlot(i, "a100") for i in range(2)]
    queued = [job(i, gpus=2) for i in (1, 2, 3)]
    state = ClusterState(slots)
    for j in queued:
        state.queue(j)
    state.start(running_job(4, gpus=(0, 1), start_time=0.0, time_limit=3600))
    snap = Snapshot(now=0.0, policy=policy(), gpus=tuple(slots), pending=tuple(queued),
                    running=())  # fmt: skip
    decisions = decide(snap, state)
    state.unqueue(queued[1])
    state.queue(job(5, gpus=2))
    assert {i: decisions.pending[i].reason for i in (1, 2, 3)} == {
        1: "Resources",
        2: "Priority",
        3: "Priority",
    }
    assert 5 not in decisions.pending


@SETTINGS
@given(st.data())
def test_kept_state_decides_as_fresh_passes_over_time(data: st.DataObject) -> None:
    """Pass after pass on one state, as the simulator runs it (jobs arrive, start, end
    early or run past their limit, the clock moves on): every pass decides as a fresh
    one. The state's caches (bucket order, earliest end, reservation bounds) must
    follow every change."""
    nodes, per_node = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    models = ["a100", "h200"] if data.draw(st.booleans()) else ["a100"]
    slots = tuple(
        GpuSlot(i, models[i // per_node % len(models)], node=f"n{i // per_node}")
        for i in range(nodes * per_node)
    )
    accounts = [Account(name="a", users=["x"]), Account(name="b", users=["y", "z"])]
    pol = policy(
        accounts=accounts,
        reservations=data.draw(st.integers(1, 4)),
        fairshare_preemption=data.draw(st.booleans()),
    )
    state = ClusterState(slots)
    pending: dict[int, QueuedJob] = {}
    queued_jobs: dict[int, QueuedJob] = {}  # every job that arrived
    runs: dict[int, RunningJob] = {}
    now = 0.0
    for step in range(data.draw(st.integers(1, 10))):
        now += data.draw(st.sampled_from([0.0, 1.0, 60.0, 600.0]))
        for job_id in sorted(runs):
            if data.draw(st.integers(0, 2)) == 0:  # ends (maybe early, maybe late)
                state.stop(runs.pop(job_id))
        for k in range(data.draw(st.integers(0, 4))):
            account, user = data.draw(st.sampled_from([("a", "x"), ("b", "y"), ("b", "z")]))
            queued = job(
                100 * step + k,
                user=user,
                account=account,
                gpus=data.draw(st.integers(1, min(len(slots), 2 * per_node))),
                gpu_type=data.draw(st.sampled_from([None, None, *models])),
                time_limit=data.draw(st.sampled_from([1, 60, 600, 3000])),
                submit_time=now,
            )
            pending[queued.id] = queued_jobs[queued.id] = queued
            state.queue(queued)
        snap = Snapshot(
            now=now,
            policy=pol,
            gpus=slots,
            pending=tuple(pending.values()),
            running=tuple(runs.values()),
            usage={("a", "x"): float(step), ("b", "y"): 2.0},
        )
        kept = decide(snap, state)
        assert outcome(kept) == outcome(decide(snap))
        for preemption in kept.preemptions:  # as the simulator: victims stop at once
            for victim in preemption.victims:
                state.stop(runs.pop(victim))
                pending[victim] = queued_jobs[victim]
                state.queue(queued_jobs[victim])
        starts = [Start(p.job_id, p.gpus) for p in kept.preemptions if p.gpus]
        for start in [*starts, *kept.starts]:
            queued = pending.pop(start.job_id)
            state.unqueue(queued)
            runs[queued.id] = started = running_job(
                queued.id,
                user=queued.user,
                account=queued.account,
                gpus=start.gpus,
                start_time=now,
                time_limit=queued.time_limit,
            )
            state.start(started)
