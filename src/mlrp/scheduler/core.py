"""One scheduling pass: `decide(snapshot) -> Decisions`.

1. Priority of every pending job (priority.py, fair-share over the usage); jobs are
   considered highest first (ties: submit time, then id).
2. Walk the queue. A job that cannot be considered (held, begin time, dependencies,
   singleton) or that a limit blocks gets that reason. Otherwise it starts if its GPUs
   are free now without delaying any reservation (backfill.Machine places it).
3. The first `policy.reservations` jobs that do not fit get a reservation (every such
   job, up to `policy.backfill_depth`, with `backfill_mode = "conservative"`): the
   earliest time enough GPUs of their type free up, and which GPUs; reason Resources
   and that time as expected start. The first job that does not fit gets Resources even
   when no such time exists (GPUs held by jobs the snapshot does not list); other jobs
   that do not fit wait with reason Priority. Resources reads ResourcesGpuModel for a
   job asking for a GPU model when enough GPUs are free now, only not of that model.
4. Without `policy.backfill`, once a job is blocked by resources nothing below it starts
   (it still gets a reservation, for its expected start).
5. Preemption (preemption.py): a job blocked by resources whose QOS may preempt others
   names the running jobs to stop so that it can start; it waits for them. First, with
   `policy.fairshare_preemption`, the first blocked job of each class whose account is
   below its fair share may stop jobs of accounts above theirs (fair_preemption.py); it
   then counts as started on the GPUs they free (`Preemption.gpus`), and the walk goes
   on. With `policy.fairshare_relocation`, a job that needs one node and finds no node
   that victims alone free may have other jobs moved off one (relocation.py).

A job that asks for more GPUs of a model than the cluster has (or for a model the
cluster lacks) waits with reason Resources and never blocks anything.

Why the walk is cheap with 50k pending jobs: pending jobs that differ only in their
submit time ("plain" jobs: no hold, begin time, dependency or singleton; same user,
account, partition, QOS, GPUs, model, nice and array) form a class whose order by
priority is its order by submit time (only the age factor differs, and it falls as
submit time grows). The walk merges the classes through a heap of their heads, and
drops a whole class once its head shows that none of it can start in this pass (a
limit is reached, or not enough GPUs of its size are free and no reservation is left
to give). The reasons of dropped jobs, and every job's position and priority
breakdown, are worked out only when asked for (PendingView), so the simulator, which
reads only the starts, never pays for them.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet

from mlrp.models.reasons import Reason
from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.decisions import (
    Decisions,
    PendingInfo,
    Preemption,
    PriorityBreakdown,
    Start,
)
from mlrp.scheduler.eligibility import eligibility_reason
from mlrp.scheduler.fair_preemption import FairShares
from mlrp.scheduler.fairshare import fairshare_factors
from mlrp.scheduler.limits import LimitCounters
from mlrp.scheduler.preemption import (
    Candidates,
    RunningIndex,
    cheapest_victims,
    qos_victims,
    victim_pool,
)
from mlrp.scheduler.priority import Factors, PriorityContext
from mlrp.scheduler.relocation import carry_out, node_plans
from mlrp.scheduler.snapshot import QueuedJob, RunningJob, Snapshot
from mlrp.scheduler.state import ClusterState

_Priority = tuple[Factors, float]  # factors, total
_Row = tuple[Reason, float | None, _Priority | None]  # reason, expected start, priority


def owners(jobs: Iterable[QueuedJob | RunningJob]) -> set[tuple[str, str]]:
    """The (account, user) of each of `jobs`."""
    return {(job.account, job.user) for job in jobs}


def _usage_with_jobs(
    snapshot: Snapshot, with_jobs: AbstractSet[tuple[str, str]]
) -> Mapping[tuple[str, str], float]:
    """The usage, plus a zero for every (account, user) of `with_jobs` without usage:
    each is a leaf of the share tree even before it has any usage."""
    missing = with_jobs - snapshot.usage.keys()
    if not missing:
        return snapshot.usage
    usage = dict(snapshot.usage)
    usage.update(dict.fromkeys(missing, 0.0))
    return usage


def priority_context(
    snapshot: Snapshot, with_jobs: AbstractSet[tuple[str, str]] | None = None
) -> PriorityContext:
    """Priorities in `snapshot`; `with_jobs`: the (account, user) of every pending and
    running job, when the caller has them."""
    if with_jobs is None:
        with_jobs = owners(snapshot.pending) | owners(snapshot.running)
    fairshare = fairshare_factors(snapshot.policy, _usage_with_jobs(snapshot, with_jobs))
    return PriorityContext.build(snapshot.policy, len(snapshot.gpus), fairshare)


def _ranked(snapshot: Snapshot, context: PriorityContext) -> tuple[list[int], list[_Priority]]:
    """Indices of the pending jobs, highest priority first (ties: submit time, then id),
    and every job's priority factors and total."""
    pending = snapshot.pending
    evaluated = context.evaluate(pending, snapshot.now)
    keys = [
        (-total, job.submit_time, job.id, i)
        for i, (job, (_, total)) in enumerate(zip(pending, evaluated, strict=True))
    ]
    keys.sort()
    return [key[3] for key in keys], evaluated


def prioritize(snapshot: Snapshot) -> list[tuple[QueuedJob, PriorityBreakdown]]:
    """Every pending job with its priority, highest first (ties: submit time, then id)."""
    context = priority_context(snapshot)
    order, evaluated = _ranked(snapshot, context)
    pending = snapshot.pending
    return [(pending[i], context.make_breakdown(*evaluated[i], pending[i].nice)) for i in order]


_SUBMIT_ORDER = operator.attrgetter("submit_time", "id")


def _classes(pending: tuple[QueuedJob, ...]) -> list[list[QueuedJob]]:
    """Plain jobs grouped by everything but their submit time (`QueuedJob.class_key`),
    each class in submit order; every other job alone in its class."""
    groups: dict[object, list[QueuedJob]] = {}
    for job in pending:
        key = job.class_key
        groups.setdefault(job.id if key is None else key, []).append(job)
    classes = list(groups.values())
    for members in classes:
        if len(members) > 1:
            members.sort(key=_SUBMIT_ORDER)
    return classes


def _next_ending_before(members: list[QueuedJob], start: int, limit: float) -> int:
    """The index of the first of `members[start:]` with a time limit below `limit`
    (len(members) when none has)."""
    for index in range(start, len(members)):
        if members[index].time_limit < limit:
            return index
    return len(members)


class _Pass:
    """The walk of one pass, and what PendingView needs to answer about any job."""

    def __init__(self, snapshot: Snapshot, state: ClusterState | None = None) -> None:
        self.snapshot = snapshot
        self.policy = snapshot.policy
        self.now = snapshot.now
        self.index: RunningIndex | None = None  # built on first need without a state
        if state is None:
            self.classes = _classes(snapshot.pending)
            self.machine = Machine(
                self.now, snapshot.gpus, snapshot.running, snapshot.link_groups, snapshot.switches
            )
            heads = (members[0] for members in self.classes)  # a class shares its owner
            with_jobs: AbstractSet[tuple[str, str]] = owners(heads) | owners(snapshot.running)
        else:
            self.classes = state.classes()
            self.machine = state.machine(self.now)
            self.index = state.running
            with_jobs = state.owners()
        self.context = priority_context(snapshot, with_jobs)
        self.counters = LimitCounters.build(
            self.policy, snapshot.running, None if state is None else state.totals
        )
        self.rows: dict[int, _Row] = {}
        # jobs with a reservation, whose expected start (its time) the machine works out
        # when asked (Machine.reserve_later)
        self.reserved: list[int] = []
        # class members from `index` on that the walk left: (members, index, reason or
        # None for "a limit's reason, else Priority")
        self.dropped: list[tuple[list[QueuedJob], int, Reason | None]] = []
        self.starts: list[Start] = []
        self.preemptions: list[Preemption] = []
        self.fair_victims: set[int] = set()  # running jobs stopped for fair share
        # (account, model) -> the fewest GPUs a job failed to find fair-share victims for
        self.fair_failed: dict[tuple[str, str | None], int] = {}
        self.candidates: Candidates | None = None  # built on the first search for victims
        self._preemptors: set[int] | None = None  # see preemptors

    def preemptors(self) -> set[int]:
        """The pending jobs that running jobs are being stopped for."""
        if self._preemptors is None:
            self._preemptors = {
                r.preempted_for for r in self.snapshot.running if r.preempted_for is not None
            }
        return self._preemptors

    def running_index(self) -> RunningIndex:
        if self.index is None:
            self.index = RunningIndex.of(self.snapshot.running, self.machine)
        return self.index

    def priority(self, job: QueuedJob) -> _Priority:
        [evaluated] = self.context.evaluate((job,), self.now)
        return evaluated

    def walk(self) -> None:
        policy = self.policy
        now = self.now
        backfill = policy.backfill
        if not backfill:
            max_reservations = 1
        elif policy.backfill_mode == "conservative":
            max_reservations = policy.backfill_depth
        else:
            max_reservations = policy.reservations
        machine = self.machine
        counters = self.counters
        rows = self.rows
        # (user, name) of every running or started job: only singletons need it
        running_names: set[tuple[str, str]] | None = None
        dependency_states = self.snapshot.dependency_states
        claimed_singletons: set[tuple[str, str]] = set()
        started_jobs: list[QueuedJob] = []
        blocked = False  # a job above is blocked by resources
        total_gpus = machine.total
        free_any = machine.free_count(None)
        victims_taken: set[int] = set()
        pool = victim_pool(self.snapshot, self.index)
        fair_preemption = policy.fairshare_preemption
        fair: FairShares | None = None  # the accounts' shares, built on first need
        fair_tried: set[int] = set()  # classes that looked for fair-share victims
        # (GPUs, model) -> the earliest end a job of that shape failed to be placed
        # with: a later job of the shape ending no sooner cannot be placed either, since
        # a pass only takes GPUs and adds reservations
        failed_end: dict[tuple[int, str | None], float] = {}
        # pending jobs a requeued victim yields to: those not yielding themselves, so
        # that two victims of each other never wait for each other (built on first need)
        claimants: set[int] | None = None

        heap: list[tuple[float, float, int, int, int, _Priority]] = []
        classes = self.classes
        for c, members in enumerate(classes):
            head = members[0]
            evaluated = self.priority(head)
            heap.append((-evaluated[1], head.submit_time, head.id, c, 0, evaluated))
        heapq.heapify(heap)

        def advance(c: int, k: int) -> None:
            members = classes[c]
            if k < len(members):
                job = members[k]
                evaluated = self.priority(job)
                heapq.heappush(heap, (-evaluated[1], job.submit_time, job.id, c, k, evaluated))

        while heap:
            _, _, _, c, k, evaluated = heapq.heappop(heap)
            members = classes[c]
            job = members[k]
            n = job.gpus
            gpu_type = job.gpu_type.lower() if job.gpu_type else None
            if n > (total_gpus if gpu_type is None else machine.capacity(gpu_type)):
                rows[job.id] = (Reason.RESOURCES, None, evaluated)
                self.dropped.append((members, k + 1, Reason.RESOURCES))
                continue
            reason: Reason | None = None
            if job.class_key is None:
                names: set[tuple[str, str]] = set()
                if job.singleton:
                    if running_names is None:
                        running_names = {(r.user, r.name) for r in self.snapshot.running}
                        running_names.update((s.user, s.name) for s in started_jobs)
                    names = running_names
                reason = eligibility_reason(job, now, dependency_states, names)
                if reason is None and job.yield_to is not None:
                    if claimants is None:
                        claimants = {j.id for j in self.snapshot.pending if j.yield_to is None}
                    if job.yield_to in claimants:
                        reason = Reason.PRIORITY  # its preemptor goes first
                if reason is None and job.singleton:
                    key = (job.user, job.name)
                    if key in claimed_singletons:
                        reason = Reason.SINGLETON
                    claimed_singletons.add(key)
            if reason is None:
                reason = counters.would_exceed(job)
                if reason is not None:  # the rest of its class is over the limit too
                    rows[job.id] = (reason, None, evaluated)
                    self.dropped.append((members, k + 1, None))
                    continue
            if reason is None and blocked and not backfill:
                if job.class_key is not None:  # nothing below a blocked job starts
                    self.dropped.append((members, k, None))
                    continue
                reason = Reason.PRIORITY
            if reason is not None:
                rows[job.id] = (reason, None, evaluated)
                advance(c, k + 1)
                continue

            if n <= free_any:  # else it cannot fit now, whatever its model
                end = now + job.time_limit
                shape = (n, gpu_type)
                gpus = None
                if end < failed_end.get(shape, math.inf):
                    gpus = machine.try_place(n, gpu_type, end)
                    if gpus is None:
                        failed_end[shape] = end
                if gpus is not None:
                    machine.start(gpus, end)
                    free_any -= n
                    counters.add_job(job)
                    if fair is not None:
                        fair.add(job.account, n)
                    started_jobs.append(job)
                    if running_names is not None:
                        running_names.add((job.user, job.name))
                    breakdown = self.context.make_breakdown(*evaluated, job.nice)
                    self.starts.append(Start(job.id, gpus, breakdown))
                    advance(c, k + 1)
                    continue

            # Blocked by resources.
            if fair_preemption and fair is None:
                index = self.running_index()
                # none while victims of an earlier one are still stopping
                fair_preemption = not index.leaving
                fair = FairShares(policy, index.held, machine.node_capacity)
                for started in started_jobs:
                    fair.add(started.account, started.gpus)
            if fair_preemption and fair is not None and c not in fair_tried:
                fair_tried.add(c)
                preemption = self.preempt_for_fair_share(job, fair)
                if preemption is not None:  # counted as started on the GPUs it frees
                    self.preemptions.append(preemption)
                    free_any = machine.free_count(None)
                    counters.add_job(job)
                    rows[job.id] = (Reason.PREEMPTING, now, evaluated)
                    advance(c, k + 1)
                    continue
            waiting_for = Reason.RESOURCES
            if gpu_type is not None and machine.free_count(gpu_type) < n <= free_any:
                waiting_for = Reason.GPU_MODEL_BUSY  # enough GPUs are free, not of its model
            victims = (
                qos_victims(job, self.snapshot, machine, pool, victims_taken, self.fair_victims)
                if pool
                else []
            )
            if victims:
                victims_taken.update(victims)
                self.preemptions.append(Preemption(job.id, tuple(victims)))
            if victims or (pool and job.id in self.preemptors()):  # pool: with the leaving
                waiting_for = Reason.PREEMPTING
            reserved = machine.reservation_count < max_reservations and machine.reserve_later(
                job.id, n, gpu_type, job.time_limit
            )
            if reserved:
                self.reserved.append(job.id)  # its expected start: see PendingView
            elif blocked and waiting_for is not Reason.PREEMPTING:
                waiting_for = Reason.PRIORITY
            rows[job.id] = (waiting_for, None, evaluated)
            blocked = True
            reserving = machine.reservation_count < max_reservations
            if not reserving and machine.free_count(gpu_type) < n:
                self.dropped.append((members, k + 1, None))  # none of its size fits now
            elif reserving or pool:
                advance(c, k + 1)  # the next one may get a reservation or victims
            else:  # only a member that ends sooner may fit: skip to it
                nxt = _next_ending_before(members, k + 1, failed_end[(n, gpu_type)] - now)
                if nxt > k + 1:
                    self.dropped.append((members[k + 1 : nxt], 0, None))
                advance(c, nxt)

    def preempt_for_fair_share(self, job: QueuedJob, fair: FairShares) -> Preemption | None:
        """Stop jobs of accounts above their fair share so that `job` (blocked by
        resources) starts on their GPUs (fair_preemption.py): None when no such jobs
        free a place for it that delays no reservation."""
        gpu_type = job.gpu_type.lower() if job.gpu_type else None
        failed = (job.account, gpu_type)
        failed_at = self.fair_failed.get(failed)
        if (failed_at is not None and job.gpus >= failed_at) or not fair.may_preempt(job):
            return None
        machine = self.machine
        now = self.now
        # the GPUs victims must free at least: on one node for a job that fits in one
        one_node = job.gpus <= machine.node_capacity(gpu_type)
        free = machine.most_free_on_a_node(gpu_type) if one_node else machine.free_count(gpu_type)
        if fair.freeable(job.account, job.gpus, gpu_type) < job.gpus - free:  # too few above shares
            self.fair_failed[failed] = job.gpus
            return None
        if self.candidates is None:
            self.candidates = Candidates(self.running_index(), machine, now)
        candidates = self.candidates
        most = fair.stoppable(job)
        chosen = cheapest_victims(
            job,
            machine,
            candidates,
            fair.victim_test(job, most),
            skip=self.fair_victims,
            accept=lambda ids: fair.keeps_fair(job, candidates.jobs(ids)),
            prefer=fair.over_first(job),
            largest=most,
        )
        if not chosen and one_node and self.policy.fairshare_relocation:
            relocated = self.relocate_for_fair_share(job, gpu_type, fair, most)
            if relocated is not None:
                return relocated
        if not chosen:
            # a larger job of the account cannot do better until a preemption succeeds
            self.fair_failed[failed] = job.gpus
            return None
        stopped = candidates.jobs(chosen)
        for victim in stopped:
            machine.release(victim.gpus)
        end = now + job.time_limit
        gpus = machine.try_place(job.gpus, gpu_type, end)
        placed = set(gpus or ())
        victims: list[RunningJob] = []
        for victim in stopped:
            if placed.intersection(victim.gpus):
                victims.append(victim)
            else:  # not needed after all (or no place): it keeps running
                machine.start(victim.gpus, max(victim.start_time + victim.time_limit, now))
        if gpus is None:
            self.fair_failed[failed] = job.gpus
            return None
        machine.start(gpus, end)
        # the victims' other GPUs are busy until they stop: now, for reservations
        machine.start([g for v in victims for g in v.gpus if g not in placed], now)
        self.fair_failed.clear()
        for victim in victims:
            fair.add(victim.account, -len(victim.gpus))
            self.fair_victims.add(victim.id)
        fair.add(job.account, job.gpus)
        return Preemption(job.id, tuple(v.id for v in victims), gpus)

    def relocate_for_fair_share(
        self, job: QueuedJob, gpu_type: str | None, fair: FairShares, most: dict[str, float]
    ) -> Preemption | None:
        """Room for `job` (asking for `gpu_type`, lower-case) on a node where fair-share
        victims plus jobs moved elsewhere make it (relocation.py), when victims alone
        make it nowhere."""
        machine, now = self.machine, self.now
        # Moved jobs go to free GPUs on other nodes, so the victims on a node must free
        # at least what all free GPUs lack, and at least one GPU: only such nodes count
        free_anywhere = machine.free_count(None)
        if free_anywhere == 0 or self.candidates is None:
            return None
        least = max(1, job.gpus - free_anywhere)
        nodes = [
            node
            for node, (_, freeable) in self.candidates.of_model(gpu_type)
            .gpus_on_nodes(fair.over_first(job), most)
            .items()
            if freeable >= least
        ]
        plans = node_plans(
            job.gpus,
            gpu_type,
            nodes,
            machine,
            self.running_index(),
            fair.victim_test(job, most),
            lambda victims: fair.keeps_fair(job, victims),
            fair.may_move(job),
            self.fair_victims,
            now,
        )
        end = now + job.time_limit
        for plan in plans:
            gpus = carry_out(plan, job.gpus, gpu_type, end, machine, now)
            if gpus is None:
                continue
            self.fair_failed.clear()
            for victim in plan.victims:
                fair.add(victim.account, -len(victim.gpus))
            fair.add(job.account, job.gpus)
            stopped = tuple(j.id for j in plan.victims + plan.moved)
            self.fair_victims.update(stopped)
            return Preemption(job.id, stopped, gpus, tuple(j.id for j in plan.moved))
        return None

    def dropped_row(self, job: QueuedJob, reason: Reason | None) -> _Row:
        if reason is None:
            reason = self.counters.would_exceed(job) or Reason.PRIORITY
        return (reason, None, None)


class PendingView(Mapping[int, PendingInfo]):
    """`Decisions.pending`: a read-only mapping job id -> PendingInfo. The reasons of
    jobs the walk dropped, positions and priority breakdowns are built on first access,
    so that a caller that only wants the starts (the simulator) does not pay for 50k of
    them per pass."""

    __slots__ = ("_built", "_jobs", "_pass", "_positions", "_rows")

    def __init__(self, walk: _Pass) -> None:
        self._pass = walk
        self._jobs: dict[int, QueuedJob] | None = None
        self._rows: dict[int, _Row] | None = None
        self._positions: dict[int, int] | None = None
        self._built: dict[int, PendingInfo] = {}

    def _all_rows(self) -> dict[int, _Row]:
        if self._rows is None:
            walk = self._pass
            rows = dict(walk.rows)
            if walk.reserved:
                starts = {r.job_id: r.start for r in walk.machine.reservations}
                for job_id in walk.reserved:
                    waiting_for, _, priority = rows[job_id]
                    rows[job_id] = (waiting_for, starts[job_id], priority)
            for members, index, reason in walk.dropped:
                for job in members[index:]:
                    rows[job.id] = walk.dropped_row(job, reason)
            started = {s.job_id for s in walk.starts}
            self._rows = {
                job.id: rows[job.id] for job in walk.snapshot.pending if job.id not in started
            }
        return self._rows

    def _position(self, job_id: int) -> int:
        if self._positions is None:
            walk = self._pass
            order, _ = _ranked(walk.snapshot, walk.context)
            pending = walk.snapshot.pending
            self._positions = {pending[i].id: p for p, i in enumerate(order, start=1)}
        return self._positions[job_id]

    def _job(self, job_id: int) -> QueuedJob:
        if self._jobs is None:
            self._jobs = {job.id: job for job in self._pass.snapshot.pending}
        return self._jobs[job_id]

    def _priority(self, job_id: int, row: _Row) -> _Priority:
        if row[2] is not None:
            return row[2]
        return self._pass.priority(self._job(job_id))

    def __getitem__(self, job_id: int) -> PendingInfo:
        info = self._built.get(job_id)
        if info is None:
            row = self._all_rows()[job_id]
            reason, expected, _ = row
            factors, total = self._priority(job_id, row)
            breakdown = self._pass.context.make_breakdown(factors, total, self._job(job_id).nice)
            info = PendingInfo(reason, breakdown, expected, self._position(job_id))
            self._built[job_id] = info
        return info

    def __iter__(self) -> Iterator[int]:
        return iter(self._all_rows())

    def __len__(self) -> int:
        return len(self._all_rows())

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._all_rows()

    def reason(self, job_id: int) -> Reason:
        """The reason alone, without building the breakdown."""
        return self._all_rows()[job_id][0]

    def summary(self, job_id: int) -> tuple[Reason, float, Factors, float | None]:
        """(reason, priority, factors in FACTOR_NAMES order, expected start), without
        building the breakdown: for callers that only look for changes."""
        row = self._all_rows()[job_id]
        factors, total = self._priority(job_id, row)
        return row[0], total, factors, row[1]

    def __repr__(self) -> str:
        return f"PendingView({dict(self)!r})"


def decide(snapshot: Snapshot, state: ClusterState | None = None) -> Decisions:
    """The jobs to start now, on which GPUs, the running jobs to preempt, and why every
    other pending job waits. `state`: the snapshot's pending classes and busy GPUs, kept
    by the caller between passes (see state.py), instead of rebuilding them."""
    walk = _Pass(snapshot, state)
    walk.walk()
    return Decisions(
        starts=tuple(walk.starts),
        pending=PendingView(walk),
        preemptions=tuple(walk.preemptions),
    )
