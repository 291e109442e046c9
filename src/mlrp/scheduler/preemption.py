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

import bisect
import heapq
import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.snapshot import QueuedJob, RunningJob, Snapshot


def victim_pool(snapshot: Snapshot, index: RunningIndex | None = None) -> tuple[RunningJob, ...]:
    """The running jobs that matter to QOS preemption in this pass: those of a QOS some
    QOS may preempt, and those already being preempted. Empty (the usual case): no
    blocked job needs to look for victims. `index`: the snapshot's running jobs, when
    the caller keeps them (it tells an empty pool without reading every job)."""
    preemptible = {name for qos in snapshot.policy.qos for name in qos.preempt}
    if index is not None and not index.leaving and preemptible.isdisjoint(index.by_qos):
        return ()
    return tuple(r for r in snapshot.running if r.preempting or r.qos in preemptible)


# a running job in its account's list of jobs of its size: (-start time, id, job); in
# ascending order, the cheapest to stop is first whatever the time (lost work is the
# time run x the size, the same for all)
_Entry = tuple[float, int, RunningJob]


class _SizeGroup:
    """One account's running jobs of one size: cheapest to stop first, and the GPUs they
    hold per node."""

    __slots__ = ("entries", "gpus")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.gpus: dict[int, int] = {}  # node -> GPUs


class RunningIndex:
    """The running jobs a victim search reads: the candidates (jobs not being
    preempted) by id, by node, and by account and size in order of lost work; where
    each runs; each account's GPUs; and the jobs being preempted. Built from a
    snapshot's running jobs (`of`) or kept up to date between passes by a ClusterState
    (`add`, `remove`)."""

    __slots__ = ("by_account", "by_node", "by_qos", "candidates", "held", "leaving", "placement")

    def __init__(self) -> None:
        self.candidates: dict[int, RunningJob] = {}
        self.placement: dict[int, dict[int, int]] = {}  # id -> node -> its GPUs there
        self.by_node: dict[int, dict[int, RunningJob]] = {}  # node -> id -> job
        # account -> size (GPUs) -> its jobs of that size
        self.by_account: dict[str, dict[int, _SizeGroup]] = {}
        self.held: dict[str, int] = {}  # account -> GPUs of its candidates
        self.by_qos: dict[str, int] = {}  # QOS -> how many candidates run in it
        self.leaving: dict[int, RunningJob] = {}  # id -> job being preempted

    @classmethod
    def of(cls, running: Iterable[RunningJob], machine: Machine) -> RunningIndex:
        index = cls()
        for job in running:
            index.add(job, machine, in_order=False)
        for sizes in index.by_account.values():
            for group in sizes.values():
                group.entries.sort()
        return index

    def add(self, job: RunningJob, machine: Machine, *, in_order: bool = True) -> None:
        """`job` now runs (on GPUs of `machine`). `in_order=False`: leave its account's
        list unsorted (the caller sorts every list once, see `of`)."""
        if job.preempting:
            self.leaving[job.id] = job
            return
        self.candidates[job.id] = job
        placement = self.placement[job.id] = machine.gpus_per_node(job.gpus, None)
        size = len(job.gpus)
        sizes = self.by_account.setdefault(job.account, {})
        group = sizes.get(size)
        if group is None:
            group = sizes[size] = _SizeGroup()
        if in_order:
            bisect.insort(group.entries, (-job.start_time, job.id, job))
        else:
            group.entries.append((-job.start_time, job.id, job))
        gpus = group.gpus
        for node, count in placement.items():
            self.by_node.setdefault(node, {})[job.id] = job
            gpus[node] = gpus.get(node, 0) + count
        self.held[job.account] = self.held.get(job.account, 0) + size
        self.by_qos[job.qos] = self.by_qos.get(job.qos, 0) + 1

    def remove(self, job: RunningJob, machine: Machine) -> None:
        """`job` no longer runs."""
        if self.leaving.pop(job.id, None) is not None:
            return
        del self.candidates[job.id]
        size = len(job.gpus)
        sizes = self.by_account[job.account]
        group = sizes[size]
        gpus = group.gpus
        for node, count in self.placement.pop(job.id).items():
            on_node = self.by_node[node]
            del on_node[job.id]
            if not on_node:
                del self.by_node[node]
            gpus[node] -= count
            if not gpus[node]:
                del gpus[node]
        entries = group.entries
        del entries[bisect.bisect_left(entries, (-job.start_time, job.id))]
        if not entries:
            del sizes[size]
            if not sizes:
                del self.by_account[job.account]
        self.held[job.account] -= size
        if not self.held[job.account]:
            del self.held[job.account]
        self.by_qos[job.qos] -= 1
        if not self.by_qos[job.qos]:
            del self.by_qos[job.qos]


class _Layout:
    """The candidates of one pass for one GPU model: where each has GPUs of the model,
    and the GPUs being freed per node."""

    __slots__ = ("_gpu_type", "_index", "_machine", "_now", "_placed", "freeing")

    def __init__(
        self, index: RunningIndex, machine: Machine, now: float, gpu_type: str | None
    ) -> None:
        self._index = index
        self._machine = machine
        self._now = now
        self._gpu_type = gpu_type
        # id -> node -> GPUs of the model there (cache; any model: the index's)
        self._placed: dict[int, dict[int, int]] = {} if gpu_type else index.placement
        self.freeing: dict[int, int] = {}  # node -> GPUs of jobs being preempted
        for job in index.leaving.values():
            for node, count in self.placed(job).items():
                self.freeing[node] = self.freeing.get(node, 0) + count

    def placed(self, job: RunningJob) -> dict[int, int]:
        """node -> the job's GPUs of the model there."""
        placed = self._placed.get(job.id)
        if placed is None:
            placed = self._machine.gpus_per_node(job.gpus, self._gpu_type)
            if not job.preempting:
                self._placed[job.id] = placed
        return placed

    def runs_jobs(self, account: str) -> bool:
        """Whether `account` has a running job that may be a candidate."""
        return account in self._index.by_account

    def groups(
        self, accounts: Iterable[str], largest: Mapping[str, float] | None
    ) -> Iterator[tuple[int, _SizeGroup]]:
        """(size, group) of the candidates of `accounts`, of sizes up to `largest`
        (account -> the largest job that may be stopped; None: any)."""
        by_account = self._index.by_account
        for account in accounts:
            cap = math.inf if largest is None else largest.get(account, -math.inf)
            for size, group in by_account.get(account, {}).items():
                if size <= cap:
                    yield size, group

    def gpus_on_nodes(
        self, accounts: Iterable[str], largest: Mapping[str, float] | None
    ) -> dict[int, tuple[int, int]]:
        """node -> the GPUs (of any model) of the candidates of `accounts` of sizes up
        to `largest` (see groups) there, and the most of them stopping can free: no
        account loses more than `largest` says (see cheapest_victims)."""
        total: dict[int, tuple[int, int]] = {}
        for account in accounts:
            cap = math.inf if largest is None else largest.get(account, -math.inf)
            mine: dict[int, int] = {}
            for _, group in self.groups((account,), largest):
                for node, count in group.gpus.items():
                    mine[node] = mine.get(node, 0) + count
            for node, count in mine.items():
                held, freeable = total.get(node, (0, 0))
                total[node] = (held + count, freeable + (count if count <= cap else math.ceil(cap)))
        return total

    def any_model(self, job: RunningJob) -> dict[int, int]:
        """node -> the candidate's GPUs (of any model) there."""
        return self._index.placement[job.id]

    def on_node(self, node: int) -> Iterable[RunningJob]:
        """The candidates with GPUs (of any model) on `node`."""
        return self._index.by_node.get(node, {}).values()

    def cheapest_first(
        self, accounts: Iterable[str], largest: Mapping[str, float] | None
    ) -> Iterator[tuple[float, RunningJob]]:
        """The candidates of `accounts` (of sizes up to `largest`, see groups), each with
        its lost work, cheapest first (ties: by id); some may have no GPU of the model.
        Lazy: a search stops early."""
        now = self._now
        heap: list[tuple[float, int, int, int, list[_Entry]]] = []
        for size, group in self.groups(accounts, largest):
            back, job_id, _ = group.entries[0]
            heap.append((max(now + back, 0.0) * size, job_id, size, 0, group.entries))
        heapq.heapify(heap)
        while heap:
            cost, _, size, at, entries = heap[0]
            yield cost, entries[at][2]
            at += 1
            if at < len(entries):
                back, job_id, _ = entries[at]
                heapq.heapreplace(heap, (max(now + back, 0.0) * size, job_id, size, at, entries))
            else:
                heapq.heappop(heap)


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

    def accounts(self) -> Iterable[str]:
        """The accounts with a candidate."""
        return self._index.by_account.keys()

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
    largest: Mapping[str, float] | None = None,
) -> list[int]:
    """The ids of the running jobs of `candidates` that `eligible` allows, cheapest in
    lost work, freeing enough GPUs of the job's model for it (empty: none can or need
    be). Jobs already being preempted, or in `freeing_ids`, count as freeing their GPUs;
    jobs in `skip` are left out. `accept(victims)`, when given, may refuse a set.
    `prefer`: accounts to take every victim from, one account at a time in this order,
    before mixing them; when given, it must hold every account `eligible` allows a
    victim of (so mixing one account is not tried again). `largest`: account -> the
    most GPUs the victims may hold of it, when known (none of an account missing): the
    largest of its jobs `eligible` allows, and in all (`accept` refuses more), so that
    the search reads neither larger jobs nor nodes where an account would lose more."""
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
    search = _Search(n, gpu_type, machine, layout, freeing, eligible, left_out, accept, largest)
    one_node = n <= machine.node_capacity(gpu_type)
    mixed = list(prefer) or list(candidates.accounts())
    for accounts in [*([a] for a in prefer), mixed] if len(prefer) != 1 else [mixed]:
        if not any(layout.runs_jobs(account) for account in accounts):
            continue
        if one_node:
            if search.room_freeing(accounts):
                return []  # GPUs being freed already make room for it
            chosen = search.on_one_node(accounts)
        else:
            need = n - machine.free_count(gpu_type) - sum(freeing.values())
            chosen = [] if need <= 0 else search.anywhere(need, accounts)
        if chosen is not None:
            return chosen
    return []


@dataclass(slots=True)
class _Search:
    """One preemptor's search for victims, over candidates walked cheapest first (the
    arguments of cheapest_victims, with `left_out` its skipped jobs and those freeing)."""

    n: int
    gpu_type: str | None
    machine: Machine
    layout: _Layout
    freeing: dict[int, int]
    eligible: Callable[[RunningJob], bool]
    left_out: set[int]
    accept: Callable[[list[int]], bool] | None
    largest: Mapping[str, float] | None

    def _may_stop(self, job: RunningJob) -> bool:
        return job.id not in self.left_out and self.eligible(job)

    def room_freeing(self, accounts: Iterable[str]) -> bool:
        """Whether some node already has room for the job with the GPUs being freed,
        and GPUs freeing or a candidate of `accounts` the job may stop (a node without
        either is no place a search among `accounts` would consider)."""
        n, gpu_type, machine, freeing = self.n, self.gpu_type, self.machine, self.freeing
        if machine.most_free_on_a_node(gpu_type) + max(freeing.values(), default=0) < n:
            return False
        if any(machine.node_free(node, gpu_type) + count >= n for node, count in freeing.items()):
            return True
        wanted = set(accounts)
        placed = self.layout.placed
        return any(
            job.account in wanted and placed(job).get(node, 0) and self._may_stop(job)
            for node in machine.nodes_with_free(n, gpu_type)
            for job in self.layout.on_node(node)
        )

    def on_one_node(self, accounts: Iterable[str]) -> list[int] | None:
        """The cheapest victims of `accounts` on the node where they cost least (None:
        no node has enough). Walks the candidates cheapest first, each node taking them
        until it has room (ties: the lowest node), and stops once no node still short
        of room can cost less than the best one found (it would need a candidate
        costing more), or can have room at all (by an upper bound of what it frees)."""
        n, gpu_type, machine, freeing = self.n, self.gpu_type, self.machine, self.freeing
        layout = self.layout
        placed, accept = layout.placed, self.accept
        # node -> the GPUs of the model it could have: free, freeing and candidates' (the
        # nodes where the accounts may lose enough)
        room: dict[int, int] = {}
        for node, (held, freeable) in layout.gpus_on_nodes(accounts, self.largest).items():
            have = machine.node_free(node, gpu_type) + freeing.get(node, 0)
            if have + freeable >= n:
                room[node] = have + held
        short: dict[int, tuple[int, float, list[int]]] = {}  # node -> GPUs, cost, victims
        best_cost, best_node, best = math.inf, -1, None
        for cost, job in layout.cheapest_first(accounts, self.largest):
            if cost > best_cost or not room:
                break
            if not self._may_stop(job):
                for node, count in layout.any_model(job).items():
                    if node in room:
                        room[node] -= count
                        if room[node] < n:
                            del room[node]
                            short.pop(node, None)
                continue
            for node, count in placed(job).items():
                if node not in room:
                    continue
                state = short.get(node)
                if state is None:
                    have = machine.node_free(node, gpu_type) + freeing.get(node, 0)
                    state = (n - have, 0.0, [])
                need, total, chosen = state
                chosen.append(job.id)
                need -= count
                total += cost
                if need > 0:
                    short[node] = (need, total, chosen)
                    continue
                short.pop(node, None)
                del room[node]
                better = total < best_cost or (total == best_cost and node < best_node)
                if better and (accept is None or accept(chosen)):
                    best_cost, best_node, best = total, node, chosen
        return best

    def anywhere(self, need: int, accounts: Iterable[str]) -> list[int] | None:
        """The cheapest victims of `accounts` across nodes, freeing `need` GPUs."""
        chosen: list[int] = []
        placed = self.layout.placed
        for _, job in self.layout.cheapest_first(accounts, self.largest):
            count = sum(placed(job).values())
            if not count or not self._may_stop(job):
                continue
            chosen.append(job.id)
            need -= count
            if need <= 0:
                return chosen if self.accept is None or self.accept(chosen) else None
        return None
