"""The victim search (preemption.cheapest_victims) against the rule written plainly.

The search walks candidates cheapest first and stops early by bounds; the rule it must
give the result of is simple: for a job that fits in a node, on every node the cheapest
eligible candidates (by lost work, then id) until it has room, and of those sets the
cheapest accepted one (ties: the lowest node), nothing at all when GPUs being freed
already make room; for a larger job, the cheapest eligible candidates anywhere until
enough GPUs free up. Accounts in `prefer` are tried one at a time before mixing them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import NOW, job, running

from mlrp.scheduler import GpuSlot, RunningJob
from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.preemption import Candidates, RunningIndex, cheapest_victims

PER_NODE = 4
ACCOUNTS = ("a", "b", "c")


def lost_work(job: RunningJob) -> float:
    return max(NOW - job.start_time, 0.0) * len(job.gpus)


def rule(
    n: int,
    machine: Machine,
    jobs: Sequence[RunningJob],
    eligible: Callable[[RunningJob], bool],
    skip: Collection[int],
    accept: Callable[[list[int]], bool] | None,
    prefer: Sequence[str],
) -> list[int]:
    node_of = machine.node_of
    leaving = [j for j in jobs if j.preempting]
    freeing: dict[int, int] = {}
    for j in leaving:
        for g in j.gpus:
            freeing[node_of(g)] = freeing.get(node_of(g), 0) + 1
    mixed = list(prefer) or sorted({j.account for j in jobs if not j.preempting})
    tries = [[a] for a in prefer] + [mixed] if len(prefer) != 1 else [mixed]
    for accounts in tries:
        usable = sorted(
            (
                j
                for j in jobs
                if not j.preempting and j.account in accounts and j.id not in skip and eligible(j)
            ),
            key=lambda j: (lost_work(j), j.id),
        )
        if not any(not j.preempting and j.account in accounts for j in jobs):
            continue
        if n > PER_NODE:  # anywhere
            need = n - machine.free_count(None) - sum(freeing.values())
            if need <= 0:
                return []
            chosen: list[int] = []
            for j in usable:
                chosen.append(j.id)
                need -= len(j.gpus)
                if need <= 0:
                    break
            if need <= 0 and (accept is None or accept(chosen)):
                return chosen
            continue
        nodes = sorted({node_of(g) for j in usable for g in j.gpus} | freeing.keys())
        if any(machine.node_free(node, None) + freeing.get(node, 0) >= n for node in nodes):
            return []
        best: tuple[float, list[int]] | None = None
        for node in nodes:
            need = n - machine.node_free(node, None) - freeing.get(node, 0)
            chosen, total = [], 0.0
            for j in usable:
                here = sum(1 for g in j.gpus if node_of(g) == node)
                if here and need > 0:
                    chosen.append(j.id)
                    total += lost_work(j)
                    need -= here
            if need > 0 or (best is not None and total >= best[0]):
                continue
            if accept is None or accept(chosen):
                best = (total, chosen)
        if best is not None:
            return best[1]
    return []


@dataclass(frozen=True)
class Search:
    slots: tuple[GpuSlot, ...]
    jobs: list[RunningJob]
    allowed: list[str]  # the accounts victims may come from
    banned: set[int]  # jobs `eligible` refuses
    largest: dict[str, float] | None  # see cheapest_victims
    budget: dict[str, int] | None  # account -> the most GPUs `accept` lets it lose
    prefer: list[str]
    skip: set[int]
    n: int  # the preemptor's GPUs


@st.composite
def searches(draw: st.DrawFn) -> Search:
    nodes = draw(st.integers(1, 3))
    slots = tuple(GpuSlot(i, "a100", node=f"n{i // PER_NODE}") for i in range(nodes * PER_NODE))
    free = set(range(len(slots)))
    jobs: list[RunningJob] = []
    for k in range(draw(st.integers(0, 12))):
        size = draw(st.sampled_from([1, 1, 1, 2, 3, 4, 6]))
        node = draw(st.integers(0, nodes - 1))
        here = sorted(g for g in free if g // PER_NODE == node)
        spill = sorted(g for g in free if g // PER_NODE != node)
        gpus = (here + spill)[:size]  # a size-6 job spans two nodes
        if len(gpus) < size:
            continue
        free -= set(gpus)
        jobs.append(
            running(
                100 + k,
                account=draw(st.sampled_from(ACCOUNTS)),
                gpus=gpus,
                start_time=NOW - draw(st.sampled_from([0, 10, 20, 400])),  # ties in lost work
                preempting=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    ids = [j.id for j in jobs]
    allowed = draw(st.lists(st.sampled_from(ACCOUNTS), unique=True, min_size=1))
    banned = set(draw(st.lists(st.sampled_from(ids), unique=True, max_size=2))) if ids else set()
    largest = None
    if draw(st.booleans()):
        largest = {a: draw(st.integers(0, 6)) + draw(st.sampled_from([0.0, 1e-9])) for a in allowed}
    budget = {a: draw(st.integers(1, 6)) for a in ACCOUNTS} if draw(st.booleans()) else None
    if largest is not None:  # as in fair-share preemption: no account loses more in all
        budget = {a: int(largest.get(a, 0)) for a in ACCOUNTS}
    prefer = draw(st.permutations(allowed)) if draw(st.booleans()) else []
    skip = set(draw(st.lists(st.sampled_from(ids), unique=True, max_size=2))) if ids else set()
    n = draw(st.integers(1, nodes * PER_NODE))
    return Search(slots, jobs, allowed, banned, largest, budget, prefer, skip, n)


@settings(max_examples=3000, deadline=None)
@given(searches())
def test_the_search_finds_what_the_rule_says(case: Search) -> None:
    by_id = {j.id: j for j in case.jobs}
    cap, budget = case.largest, case.budget

    def eligible(j: RunningJob) -> bool:
        size_ok = cap is None or len(j.gpus) <= cap.get(j.account, -1.0)
        return j.account in case.allowed and j.id not in case.banned and size_ok

    def within_budget(ids: list[int]) -> bool:
        assert budget is not None
        lost: dict[str, int] = {}
        for i in ids:
            lost[by_id[i].account] = lost.get(by_id[i].account, 0) + len(by_id[i].gpus)
        return all(gpus <= budget[a] for a, gpus in lost.items())

    accept = None if budget is None else within_budget
    machine = Machine(NOW, case.slots, case.jobs)
    candidates = Candidates(RunningIndex.of(case.jobs, machine), machine, NOW)
    found = cheapest_victims(
        job(1, gpus=case.n), machine, candidates, eligible, (), case.skip, accept,
        case.prefer, cap,
    )  # fmt: skip
    expected = rule(case.n, machine, case.jobs, eligible, case.skip, accept, case.prefer)
    assert found == expected
