"""Moving jobs to make a whole node for a fair-share preemptor
(`Policy.fairshare_relocation`).

Fair-share preemption (fair_preemption.py) may stop only jobs of accounts above the
preemptor's share. A job that needs a whole node's worth of GPUs then finds none when
every node also runs jobs of accounts that are not above it: small jobs of over-served
and under-served accounts side by side, with a free GPU here and there. The GPUs exist;
they are in the wrong places. On the Philly trace this left backlogged teams at
0.85-0.90 of their fair share for whole days.

So, when no node can be freed by fair-share victims alone, a pass looks for a node
where the victims it may stop there, plus jobs *moved* from it, make room, and where
every moved job fits right away elsewhere (free GPUs on other nodes, delaying no
reservation). A moved job is stopped like a victim (requeued, resumes from its
checkpoint) but its account keeps its place: the GPUs it will restart on are set aside
for the rest of the pass, and its account is not charged with a loss of share. At
least one victim must be on the node: moving jobs never serves a preemptor alone.

Moving is tried only where a victim search was: when the GPUs over-served accounts
hold above the preemptor's share cover what the roomiest node lacks. Letting moved jobs
make up the rest too (victims freeing only what all free GPUs lack) kept every
backlogged team-day of the Philly trace as fair, with 10% more preemptions (37,931
against 34,302) and a 6% longer average JCT.

Nodes are tried cheapest first in lost work (GPUs x time run, of victims and moved
jobs alike; ties: the lowest node), a few at most per preemptor. Only for jobs on one
node. On a cluster of several GPU models the preemptor needs a node with GPUs of the
model it asked for, and each moved job restarts on GPUs of the model it asked for
(`RunningJob.gpu_type`), any model when it asked for none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.preemption import RunningIndex
from mlrp.scheduler.snapshot import RunningJob

_TRIES = 8  # node plans carried out at most per preemptor (each may fail to place)


class NodePlan(NamedTuple):
    """Room for a preemptor on `node`: `victims` are stopped for good, `moved` restart
    elsewhere. `cost`: the work all of them lose."""

    cost: float
    node: int
    victims: tuple[RunningJob, ...]
    moved: tuple[RunningJob, ...]


def node_plans(
    n: int,
    gpu_type: str | None,
    nodes: Iterable[int],
    machine: Machine,
    index: RunningIndex,
    may_stop: Callable[[RunningJob], bool],
    keeps_fair: Callable[[Iterable[RunningJob]], bool],
    may_move: Callable[[RunningJob], bool],
    skip: set[int],
    now: float,
) -> list[NodePlan]:
    """Of `nodes`, those where a job of `n` GPUs of `gpu_type` (lower-case; None: any)
    could start once victims there are stopped (`may_stop` each, `keeps_fair` all of
    them) and the other jobs it needs gone are moved (`may_move` each), cheapest first;
    at most _TRIES of them. Jobs in `skip` (already stopped in this pass) rule their
    node out."""
    free_anywhere = machine.free_count(None)
    plans: list[NodePlan] = []
    for node in nodes:
        jobs = index.by_node.get(node, {})
        free = machine.node_free(node, gpu_type)
        elsewhere = free_anywhere - machine.node_free(node, None)
        ranked: list[tuple[float, RunningJob]] = []
        for job in jobs.values():
            if job.id in skip or len(index.placement[job.id]) > 1:
                break  # its GPUs are spoken for, or it spans nodes: no plan here
            ranked.append((len(job.gpus) * (now - job.start_time), job))
        else:
            ranked.sort(key=_cost_then_id)
            plan = _plan(n, node, free, ranked, may_stop, keeps_fair, may_move)
            # the moved jobs need free GPUs on other nodes, at least as many
            if plan is not None and sum(len(j.gpus) for j in plan.moved) <= elsewhere:
                plans.append(plan)
    plans.sort(key=lambda plan: (plan.cost, plan.node))
    return plans[:_TRIES]


def _cost_then_id(entry: tuple[float, RunningJob]) -> tuple[float, int]:
    return entry[0], entry[1].id


def _plan(
    n: int,
    node: int,
    free: int,
    ranked: list[tuple[float, RunningJob]],
    may_stop: Callable[[RunningJob], bool],
    keeps_fair: Callable[[Iterable[RunningJob]], bool],
    may_move: Callable[[RunningJob], bool],
) -> NodePlan | None:
    """Victims cheapest first while the node lacks room, then moved jobs cheapest first
    among those of accounts the preemptor may not take from (the over-served accounts'
    other jobs stay); None without a victim or without room."""
    have, cost = free, 0.0
    victims: list[RunningJob] = []
    rest: list[tuple[float, RunningJob]] = []
    for lost, job in ranked:
        if not may_stop(job):
            rest.append((lost, job))
        elif have < n and keeps_fair([*victims, job]):
            victims.append(job)
            have += len(job.gpus)
            cost += lost
    if not victims:
        return None
    moved: list[RunningJob] = []
    for lost, job in rest:
        if have >= n:
            break
        if not may_move(job):
            return None
        moved.append(job)
        have += len(job.gpus)
        cost += lost
    if have < n or not moved:  # without moved jobs, the victim search would have found it
        return None
    return NodePlan(cost, node, tuple(victims), tuple(moved))


def carry_out(
    plan: NodePlan, n: int, gpu_type: str | None, end: float, machine: Machine, now: float
) -> tuple[int, ...] | None:
    """Stop the plan's jobs on `machine`, start the preemptor (`n` GPUs of `gpu_type`,
    until `end`) on the plan's node and every moved job elsewhere, on GPUs of the model
    it asked for (held until its expected end);
    the preemptor's GPUs, or None (and `machine` as it was) when something does not
    fit."""
    stopped = plan.victims + plan.moved
    # the moved jobs go to GPUs left on the node or free elsewhere that the one ending
    # soonest may take (a bound: most plans that fail, fail here, before any change)
    moving = sum(len(job.gpus) for job in plan.moved)
    left = machine.node_free(plan.node, None) + sum(len(job.gpus) for job in stopped) - n
    soonest = min(_expected_end(job, now) for job in plan.moved)
    if moving > left + machine.free_for(soonest, plan.node):
        return None
    for job in stopped:
        machine.release(job.gpus)
    gpus = machine.try_place(n, gpu_type, end)
    if gpus is not None and machine.node_of(gpus[0]) == plan.node:
        machine.start(gpus, end)
        placed: list[tuple[int, ...]] = []
        for job in plan.moved:
            until = _expected_end(job, now)
            where = machine.try_place(len(job.gpus), job.gpu_type, until)
            if where is None:
                break
            machine.start(where, until)
            placed.append(where)
        else:
            # the stopped jobs' other GPUs are busy until they stop: now, for reservations
            taken = set(gpus).union(*placed)
            machine.start([g for job in stopped for g in job.gpus if g not in taken], now)
            return gpus
        for where in placed:
            machine.release(where)
        machine.release(gpus)
    for job in stopped:
        machine.start(job.gpus, _expected_end(job, now))
    return None


def _expected_end(job: RunningJob, now: float) -> float:
    """When `job` is expected to end, as the Machine counts it (never before now)."""
    return max(job.start_time + job.time_limit, now)
