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
from collections.abc import Callable, Collection, Iterable, Sequence

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


class RunningIndex:
    """The running jobs a victim search reads: the candidates (jobs not being
    preempted) by id, by node and by account, each account's GPUs, and the jobs being
    preempted. Built from a snapshot's running jobs (`of`) or kept up to date between
    passes by a ClusterState (`add`, `remove`)."""

    __slots__ = ("account_nodes", "by_node", "candidates", "held", "leaving")

    def __init__(self) -> None:
        self.candidates: dict[int, RunningJob] = {}
        # node -> id -> (job, its GPUs there, of any model)
        self.by_node: dict[int, dict[int, tuple[RunningJob, int]]] = {}
        self.account_nodes: dict[str, dict[int, int]] = {}  # account -> node -> its jobs
        self.held: dict[str, int] = {}  # account -> GPUs of its candidates
        self.leaving: dict[int, RunningJob] = {}  # id -> job being preempted

    @classmethod
    def of(cls, running: Iterable[RunningJob], machine: Machine) -> RunningIndex:
        index = cls()
        for job in running:
            index.add(job, machine)
        return index

    def add(self, job: RunningJob, machine: Machine) -> None:
        """`job` now runs (on GPUs of `machine`)."""
        if job.preempting:
            self.leaving[job.id] = job
            return
        self.candidates[job.id] = job
        nodes = self.account_nodes.setdefault(job.account, {})
        for node, count in machine.gpus_per_node(job.gpus, None).items():
            self.by_node.setdefault(node, {})[job.id] = (job, count)
            nodes[node] = nodes.get(node, 0) + 1
        self.held[job.account] = self.held.get(job.account, 0) + len(job.gpus)

    def remove(self, job: RunningJob, machine: Machine) -> None:
        """`job` no longer runs."""
        if self.leaving.pop(job.id, None) is not None:
            return
        del self.candidates[job.id]
        nodes = self.account_nodes[job.account]
        for node in machine.gpus_per_node(job.gpus, None):
            on_node = self.by_node[node]
            del on_node[job.id]
            if not on_node:
                del self.by_node[node]
            nodes[node] -= 1
            if not nodes[node]:
                del nodes[node]
        if not nodes:
            del self.account_nodes[job.account]
        self.held[job.account] -= len(job.gpus)
        if not self.held[job.account]:
            del self.held[job.account]


class _Layout:
    """The candidates of one pass for one GPU model: per node, cheapest first, and
    across nodes, cheapest first, each worked out on first need; the nodes where each
    account has some; and the GPUs being freed per node. One account's candidates are
    these, filtered."""

    __slots__ = ("_anywhere", "_by_node", "_gpu_type", "_index", "_machine", "_nodes",
                 "_now", "freeing")  # fmt: skip

    def __init__(
        self, index: RunningIndex, machine: Machine, now: float, gpu_type: str | None
    ) -> None:
        self._index = index
        self._machine = machine
        self._now = now
        self._gpu_type = gpu_type
        self._by_node: dict[int, list[_Candidate]] = {}  # cache, see on_node
        self._anywhere: list[_Candidate] | None = None  # cache, see anywhere
        self._nodes: dict[str | None, list[int]] = {}  # cache, see nodes
        self.freeing: dict[int, int] = {}  # node -> GPUs of jobs being preempted
        for job in index.leaving.values():
            for node, count in self.placed(job).items():
                self.freeing[node] = self.freeing.get(node, 0) + count

    def placed(self, job: RunningJob) -> dict[int, int]:
        """node -> the job's GPUs of the model there."""
        return self._machine.gpus_per_node(job.gpus, self._gpu_type)

    def runs_jobs(self, account: str) -> bool:
        """Whether `account` has a running job that may be a candidate."""
        return account in self._index.account_nodes

    def nodes(self, account: str | None) -> list[int]:
        """The nodes with a candidate (of `account`, when one is given), ascending; some
        may have none of the model."""
        nodes = self._nodes.get(account)
        if nodes is None:
            index = self._index
            where = index.by_node if account is None else index.account_nodes[account]
            nodes = self._nodes[account] = sorted(where)
        return nodes

    def on_node(self, node: int) -> list[_Candidate]:
        """The candidates with GPUs of the model on `node`, cheapest first."""
        listed = self._by_node.get(node)
        if listed is None:
            now, placed, any_model = self._now, self.placed, self._gpu_type is None
            listed = []
            for job, count in self._index.by_node.get(node, {}).values():
                if not any_model:
                    count = placed(job).get(node, 0)
                if count:  # lost_work, inline (a hot loop)
                    cost = max(now - job.start_time, 0.0) * len(job.gpus)
                    listed.append((cost, job.id, count, job))
            listed.sort(key=_COST_ORDER)
            self._by_node[node] = listed
        return listed

    def anywhere(self) -> list[_Candidate]:
        """The candidates with GPUs of the model, cheapest first, each with its count."""
        if self._anywhere is None:
            now, placed = self._now, self.placed
            self._anywhere = []
            for job in self._index.candidates.values():
                count = sum(placed(job).values())
                if count:
                    self._anywhere.append((lost_work(job, now), job.id, count, job))
            self._anywhere.sort(key=_COST_ORDER)
        return self._anywhere


class Candidates:
    """Running jobs (`index`) as preemption candidates in one pass, laid out per GPU
    model on first need and reused by every preemptor of the pass."""

    __slots__ = ("_index", "_layouts", "_machine", "now")

    def __init__(self, index: RunningIndex, machine: Machine, now: float) -> None:
        self.now = now
        self._machine = machine
        self._layouts: dict[str | None, _Layout] = {}
        self._index = index

    def job(self, job_id: int) -> RunningJob | None:
        index = self._index
        return index.candidates.get(job_id) or index.leaving.get(job_id)

    def jobs(self, ids: Iterable[int]) -> list[RunningJob]:
        """The running jobs of these ids (every one a candidate)."""
        candidates = self._index.candidates
        return [candidates[i] for i in ids]

    def of_model(self, gpu_type: str | None) -> _Layout:
        layout = self._layouts.get(gpu_type)
        if layout is None:
            layout = _Layout(self._index, self._machine, self.now, gpu_type)
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
        Candidates(RunningIndex.of(pool, machine), machine, snapshot.now),
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
    before mixing accounts; when given, it must hold every account `eligible` allows a
    victim of (so mixing one account is not tried again)."""
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
    one_node = n <= machine.node_capacity(gpu_type)
    for account in [*prefer, None] if len(prefer) != 1 else prefer:
        if account is not None and not layout.runs_jobs(account):
            continue
        if one_node:
            chosen = _cheapest_on_one_node(
                n, gpu_type, machine, layout, account, freeing, eligible, left_out, accept
            )
        else:
            need = n - machine.free_count(gpu_type) - sum(freeing.values())
            chosen = (
                []
                if need <= 0
                else _cheapest_anywhere(need, layout, account, eligible, left_out, accept)
            )
        if chosen is not None:
            return chosen
    return []


def _cheapest_anywhere(
    need: int,
    layout: _Layout,
    account: str | None,
    eligible: Callable[[RunningJob], bool],
    left_out: set[int],
    accept: Callable[[list[int]], bool] | None,
) -> list[int] | None:
    """The cheapest victims across nodes (of `account` alone, when one is given)."""
    chosen: list[int] = []
    for _, victim, count, running in layout.anywhere():
        if (
            victim in left_out
            or (account is not None and running.account != account)
            or not eligible(running)
        ):
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
    layout: _Layout,
    account: str | None,
    freeing: dict[int, int],
    eligible: Callable[[RunningJob], bool],
    left_out: set[int],
    accept: Callable[[list[int]], bool] | None,
) -> list[int] | None:
    """The cheapest victims (of `account` alone, when one is given) on the node where
    they cost least (None: no node has enough); [] when GPUs being freed already make
    room on a node that has candidates or GPUs freeing."""
    best: tuple[float, list[int]] | None = None
    nodes = layout.nodes(account)
    if freeing:
        nodes = sorted(freeing.keys() | nodes)
    for node in nodes:
        have = machine.node_free(node, gpu_type) + freeing.get(node, 0)
        need = n - have
        chosen: list[int] = []
        cost = 0.0
        seen = False  # an eligible candidate on the node
        for c, victim, count, running in layout.on_node(node):
            if (
                victim in left_out
                or (account is not None and running.account != account)
                or not eligible(running)
            ):
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
