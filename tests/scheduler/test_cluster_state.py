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
        state.occupy(running.gpus, running.start_time + running.time_limit)
    return state


def outcome(d: Decisions) -> tuple[object, ...]:
    return (
        [(s.job_id, s.gpus) for s in d.starts],
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
    for s in starts:
        state.unqueue(first if s.job_id == 1 else second)
        state.occupy(s.gpus, 3600.0)
    state.unqueue(third)
    state.release(starts[0].gpus)
    later = replace(snap, now=10.0, pending=())
    assert decide(later, state).starts == ()
    fourth = job(4, gpus=2)
    state.queue(fourth)
    again = decide(replace(later, pending=(fourth,)), state)
    assert [(s.job_id, s.gpus) for s in again.starts] == [(4, starts[0].gpus)]


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
    pol = policy(accounts=accounts, reservations=data.draw(st.integers(1, 4)))
    state = ClusterState(slots)
    pending: dict[int, QueuedJob] = {}
    runs: dict[int, RunningJob] = {}
    now = 0.0
    for step in range(data.draw(st.integers(1, 10))):
        now += data.draw(st.sampled_from([0.0, 1.0, 60.0, 600.0]))
        for job_id in sorted(runs):
            if data.draw(st.integers(0, 2)) == 0:  # ends (maybe early, maybe late)
                state.release(runs.pop(job_id).gpus)
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
            pending[queued.id] = queued
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
        for start in kept.starts:
            queued = pending.pop(start.job_id)
            state.unqueue(queued)
            state.occupy(start.gpus, now + queued.time_limit)
            runs[queued.id] = running_job(
                queued.id, gpus=start.gpus, start_time=now, time_limit=queued.time_limit
            )
