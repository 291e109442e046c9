"""Which running jobs a blocked job preempts: the cheapest set that frees enough GPUs.

Two rules say which running jobs a pending job blocked by resources may preempt:

* by QOS (`qos_victims`): jobs of a QOS its own QOS lists in `Qos.preempt` (nothing is
  preempted unless the config says so). The job then waits for its victims to stop;
  reservations of jobs above it are not consulted: a higher-priority job never waits on
  a preemption, it starts first.
* by fair share (fair_preemption.py): jobs of accounts above their fair share, when the
  job's account is below its own.

Either way the victims are chosen to lose the least work: a victim's lost work is its
GPUs x the seconds it has run, and the victims are the cheapest set that frees enough
GPUs of the job's model — on one node for a job that fits in a node (the node where
that costs least), anywhere for a larger one. GPUs of jobs already being preempted
count as freed, so a job never preempts twice for the same need.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.snapshot import QueuedJob, RunningJob, Snapshot


def lost_work(job: RunningJob, now: float) -> float:
    """GPU-seconds a job loses when stopped now (as if it kept no checkpoint)."""
    return max(now - job.start_time, 0.0) * len(job.gpus)


def victim_pool(snapshot: Snapshot) -> tuple[RunningJob, ...]:
    """The running jobs that matter to QOS preemption in this pass: those of a QOS some
    QOS may preempt, and those already being preempted. Empty (the usual case): no
    blocked job needs to look for victims."""
    preemptible = {name for qos in snapshot.policy.qos for name in qos.preempt}
    return tuple(r for r in snapshot.running if r.preempting or r.qos in preemptible)


# a candidate victim: (lost work, id, its GPUs of the model on the node or in all, job)
_Candidate = tuple[float, int, int, RunningJob]
_COST_ORDER = operator.itemgetter(0, 1)  # cheapest first, then by id


class _Pool:
    """Candidates per node, cheapest first, and across nodes, cheapest first."""

    __slots__ = ("_nodes", "anywhere", "by_node")

    def __init__(self) -> None:
        self.by_node: dict[int, list[_Candidate]] = {}
        self.anywhere: list[_Candidate] = []
        self._nodes: list[int] | None = None

    def nodes(self) -> list[int]:
        """The nodes with candidates, ascending."""
        if self._nodes is None:
            self._nodes = sorted(self.by_node)
        return self._nodes

    def sort(self) -> None:
        for candidates in self.by_node.values():
            candidates.sort(key=_COST_ORDER)
        self.anywhere.sort(key=_COST_ORDER)


class _Layout:
    """The running jobs of one pass as candidates for one GPU model: all of them, and
    each account's apart, each laid out on first need; and the GPUs being freed per
    node."""

    __slots__ = (
        "_accounts",
        "_by_account",
        "_everyone",
        "_gpu_type",
        "_machine",
        "_now",
        "freeing",
    )

    def __init__(
        self,
        by_account: dict[str, list[RunningJob]],
        leaving: Sequence[RunningJob],
        machine: Machine,
        now: float,
        gpu_type: str | None,
    ) -> None:
        self._by_account = by_account
        self._machine = machine
        self._now = now
        self._gpu_type = gpu_type
        self._accounts: dict[str, _Pool] = {}
        self._everyone: _Pool | None = None
        self.freeing: dict[int, int] = {}  # node -> GPUs of jobs being preempted
        for job in leaving:
            for node, count in self.placed(job).items():
                self.freeing[node] = self.freeing.get(node, 0) + count

    def placed(self, job: RunningJob) -> dict[int, int]:
        """node -> the job's GPUs of the model there."""
        return self._machine.gpus_per_node(job.gpus, self._gpu_type)

    def account(self, name: str) -> _Pool | None:
        """The candidates of one account (None: it has no running job)."""
        pool = self._accounts.get(name)
        if pool is None:
            jobs = self._by_account.get(name)
            if jobs is None:
                return None
            pool = self._accounts[name] = self._pool(jobs)
        return pool

    def everyone(self) -> _Pool:
        """The candidates of every account: their pools merged."""
        if self._everyone is None:
            merged = _Pool()
            for name in self._by_account:
                pool = self.account(name)
                assert pool is not None
                for node, candidates in pool.by_node.items():
                    merged.by_node.setdefault(node, []).extend(candidates)
                merged.anywhere.extend(pool.anywhere)
            merged.sort()  # sorted runs: merged in linear time
            self._everyone = merged
        return self._everyone

    def _pool(self, jobs: Iterable[RunningJob]) -> _Pool:
        pool = _Pool()
        by_node, anywhere = pool.by_node, pool.anywhere
        gpus_per_node, gpu_type, now = self._machine.gpus_per_node, self._gpu_type, self._now
        for job in jobs:
            per_node = gpus_per_node(job.gpus, gpu_type)
            if not per_node:
                continue
            cost = lost_work(job, now)
            total = 0
            for node, count in per_node.items():
                by_node.setdefault(node, []).append((cost, job.id, count, job))
                total += count
            anywhere.append((cost, job.id, total, job))
        pool.sort()
        return pool


class Candidates:
    """Running jobs as preemption candidates in one pass, laid out per GPU model (and
    per account) on first need and reused by every preemptor of the pass."""

    __slots__ = ("_by_account", "_by_id", "_layouts", "_leaving", "_machine", "now")

    def __init__(self, running: Sequence[RunningJob], machine: Machine, now: float) -> None:
        self.now = now
        self._machine = machine
        self._layouts: dict[str | None, _Layout] = {}
        self._by_id = {job.id: job for job in running}
        self._leaving = [job for job in running if job.preempting]
        self._by_account: dict[str, list[RunningJob]] = {}
        for job in running:
            if not job.preempting:
                self._by_account.setdefault(job.account, []).append(job)

    def job(self, job_id: int) -> RunningJob | None:
        return self._by_id.get(job_id)

    def jobs(self, ids: Iterable[int]) -> list[RunningJob]:
        """The running jobs of these ids (every one a candidate)."""
        return [self._by_id[i] for i in ids]

    def of_model(self, gpu_type: str | None) -> _Layout:
        layout = self._layouts.get(gpu_type)
        if layout is None:
            layout = _Layout(self._by_account, self._leaving, self._machine, self.now, gpu_type)
            self._layouts[gpu_type] = layout
        return layout


def qos_victims(
    job: QueuedJob,
    snapshot: Snapshot,
    machine: Machine,
    pool: Sequence[RunningJob],
    taken: Iterable[int] = (),
    skip: Collection[int] = (),
) -> list[int]:
    """Ids of the running jobs of `pool` (see victim_pool) to preempt for `job` by its
    QOS (empty: none can or need be). `taken`: jobs other preemptors of this pass are
    already stopping (their GPUs count as freeing); `skip`: jobs whose GPUs this pass
    already gave to another job."""
    qos = snapshot.policy.qos_named(job.qos)
    if qos is None or not qos.preempt or job.gpus <= 0 or not pool:
        return []
    preemptible = set(qos.preempt)
    return cheapest_victims(
        job,
        machine,
        Candidates(pool, machine, snapshot.now),
        lambda r: r.qos in preemptible,
        taken,
        skip,
    )


def cheapest_victims(
    job: QueuedJob,
    machine: Machine,
    candidates: Candidates,
    eligible: Callable[[RunningJob], bool],
    freeing_ids: Iterable[int] = (),
    skip: Collection[int] = (),
    accept: Callable[[list[int]], bool] | None = None,
    prefer: Sequence[str] = (),
) -> list[int]:
    """The ids of the running jobs of `candidates` that `eligible` allows, cheapest in
    lost work, freeing enough GPUs of the job's model for it (empty: none can or need
    be). Jobs already being preempted, or in `freeing_ids`, count as freeing their GPUs;
    jobs in `skip` are left out. `accept(victims)`, when given, may refuse a set.
    `prefer`: accounts to take every victim from, one account at a time in this order,
    before mixing accounts."""
    gpu_type = job.gpu_type.lower() if job.gpu_type else None
    layout = candidates.of_model(gpu_type)
    left_out = set(skip)
    freeing = layout.freeing
    if freeing_ids:
        freeing = dict(freeing)
        for victim in freeing_ids:
            running = candidates.job(victim)
            if victim in left_out or running is None or running.preempting:
                continue
            left_out.add(victim)
            for node, count in layout.placed(running).items():
                freeing[node] = freeing.get(node, 0) + count
    n = job.gpus
    for pool in _pools(layout, prefer):
        if n <= machine.node_capacity(gpu_type):
            chosen = _cheapest_on_one_node(
                n, gpu_type, machine, pool, freeing, eligible, left_out, accept
            )
        else:
            need = n - machine.free_count(gpu_type) - sum(freeing.values())
            chosen = [] if need <= 0 else _cheapest_anywhere(need, pool, eligible, left_out, accept)
        if chosen is not None:
            return chosen
    return []


def _pools(layout: _Layout, prefer: Sequence[str]) -> Iterator[_Pool]:
    for name in prefer:
        pool = layout.account(name)
        if pool is not None:
            yield pool
    yield layout.everyone()


def _cheapest_anywhere(
    need: int,
    pool: _Pool,
    eligible: Callable[[RunningJob], bool],
    left_out: set[int],
    accept: Callable[[list[int]], bool] | None,
) -> list[int] | None:
    chosen: list[int] = []
    for _, victim, count, running in pool.anywhere:
        if victim in left_out or not eligible(running):
            continue
        chosen.append(victim)
        need -= count
        if need <= 0:
            return chosen if accept is None or accept(chosen) else None
    return None


def _cheapest_on_one_node(
    n: int,
    gpu_type: str | None,
    machine: Machine,
    pool: _Pool,
    freeing: dict[int, int],
    eligible: Callable[[RunningJob], bool],
    left_out: set[int],
    accept: Callable[[list[int]], bool] | None,
) -> list[int] | None:
    """The cheapest victims of `pool` on the node where they cost least (None: no node
    has enough); [] when GPUs being freed already make room on a node that has
    candidates or GPUs freeing."""
    best: tuple[float, list[int]] | None = None
    nodes = pool.nodes() if not freeing else sorted(pool.by_node.keys() | freeing.keys())
    for node in nodes:
        have = machine.node_free(node, gpu_type) + freeing.get(node, 0)
        need = n - have
        chosen: list[int] = []
        cost = 0.0
        seen = False  # an eligible candidate on the node
        for c, victim, count, running in pool.by_node.get(node, ()):
            if victim in left_out or not eligible(running):
                continue
            seen = True
            if need <= 0:
                break
            chosen.append(victim)
            cost += c
            need -= count
            if need <= 0:
                break
        if not seen and node not in freeing:
            continue
        if have >= n:
            return []  # enough is already freeing up there
        if need > 0 or (best is not None and cost >= best[0]):
            continue
        if accept is None or accept(chosen):
            best = (cost, chosen)
    return best[1] if best is not None else None
