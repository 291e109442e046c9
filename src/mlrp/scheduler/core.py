"""One scheduling pass: `decide(snapshot) -> Decisions`.

1. Priority of every pending job (priority.py, fair-share over the usage); the queue is
   sorted once by priority (desc), then submit time, then id.
2. Walk the queue. A job that cannot be considered (held, begin time, dependencies,
   singleton) or that a limit blocks gets that reason. Otherwise it starts if its GPUs
   are free now without delaying any reservation.
3. The first `policy.reservations` jobs that do not fit get a reservation (the earliest
   time enough GPUs of their type free up, and which GPUs), reason Resources and that
   time as expected start. The first job that does not fit gets Resources even when no
   such time exists (GPUs held by jobs the snapshot does not list); other jobs that do
   not fit wait with reason Priority. Resources reads ResourcesGpuModel for a job asking
   for a GPU model when enough GPUs are free now, only not of that model.
4. Without `policy.backfill`, once a job is blocked by resources nothing below it starts
   (it still gets a reservation, for its expected start).

A job that asks for more GPUs of a model than the machine has (or for a model the
machine lacks) waits with reason Resources and never blocks anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mlrp.models.reasons import Reason
from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.decisions import Decisions, PendingInfo, PriorityBreakdown, Start
from mlrp.scheduler.eligibility import eligibility_reason
from mlrp.scheduler.fairshare import fairshare_factors
from mlrp.scheduler.limits import LimitCounters
from mlrp.scheduler.priority import Factors, PriorityContext
from mlrp.scheduler.snapshot import QueuedJob, Snapshot

_Priority = tuple[Factors, float]  # factors, total
# reason, expected start, position, (factors, total), nice
_Row = tuple[Reason, float | None, int, _Priority, int]


class PendingView(Mapping[int, PendingInfo]):
    """`Decisions.pending`: a read-only mapping job id -> PendingInfo whose values (and
    their priority breakdowns) are built on first access, so that a caller that only
    wants the starts (the simulator) does not pay for 50k breakdowns per pass."""

    __slots__ = ("_built", "_context", "_rows")

    def __init__(self, context: PriorityContext, rows: dict[int, _Row]) -> None:
        self._context = context
        self._rows = rows
        self._built: dict[int, PendingInfo] = {}

    def __getitem__(self, job_id: int) -> PendingInfo:
        info = self._built.get(job_id)
        if info is None:
            reason, expected, position, (factors, total), nice = self._rows[job_id]
            breakdown = self._context.make_breakdown(factors, total, nice)
            info = PendingInfo(reason, breakdown, expected, position)
            self._built[job_id] = info
        return info

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._rows

    def reason(self, job_id: int) -> Reason:
        """The reason alone, without building the breakdown."""
        return self._rows[job_id][0]

    def summary(self, job_id: int) -> tuple[Reason, float, Factors, float | None]:
        """(reason, priority, factors in FACTOR_NAMES order, expected start), without
        building the breakdown: for callers that only look for changes."""
        reason, expected, _, (factors, total), _ = self._rows[job_id]
        return reason, total, factors, expected

    def __repr__(self) -> str:
        return f"PendingView({dict(self)!r})"


def _usage_with_jobs(snapshot: Snapshot) -> dict[tuple[str, str], float]:
    """The usage, plus a zero for every (account, user) with a job: each is a leaf of
    the share tree even before it has any usage."""
    usage = dict(snapshot.usage)
    for job in snapshot.pending:
        usage.setdefault((job.account, job.user), 0.0)
    for running in snapshot.running:
        usage.setdefault((running.account, running.user), 0.0)
    return usage


def priority_context(snapshot: Snapshot) -> PriorityContext:
    fairshare = fairshare_factors(snapshot.policy, _usage_with_jobs(snapshot))
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


def decide(snapshot: Snapshot) -> Decisions:
    """The jobs to start now, on which GPUs, and why every other pending job waits."""
    policy = snapshot.policy
    now = snapshot.now
    backfill = policy.backfill
    max_reservations = policy.reservations if backfill else 1
    context = priority_context(snapshot)
    order, evaluated = _ranked(snapshot, context)
    machine = Machine(now, snapshot.gpus, snapshot.running, snapshot.link_groups)
    counters = LimitCounters.build(policy, snapshot.running)
    running_names = {(r.user, r.name) for r in snapshot.running}
    dependency_states = snapshot.dependency_states
    claimed_singletons: set[tuple[str, str]] = set()
    blocked = False  # a job above is blocked by resources
    starts: list[Start] = []
    rows: dict[int, _Row] = {}
    pending = snapshot.pending
    total_gpus = machine.total
    free_any = machine.free_count(None)

    for position, i in enumerate(order, start=1):
        job = pending[i]
        n = job.gpus
        gpu_type = job.gpu_type.lower() if job.gpu_type else None
        if n > (total_gpus if gpu_type is None else machine.capacity(gpu_type)):
            rows[job.id] = (Reason.RESOURCES, None, position, evaluated[i], job.nice)
            continue
        reason: Reason | None = None
        if (
            job.held
            or job.dependencies
            or job.singleton
            or (job.begin_time is not None and job.begin_time > now)
        ):
            reason = eligibility_reason(job, now, dependency_states, running_names)
            if reason is None and job.singleton:
                key = (job.user, job.name)
                if key in claimed_singletons:
                    reason = Reason.SINGLETON
                claimed_singletons.add(key)
        if reason is None:
            reason = counters.would_exceed(job)
        if reason is None and blocked and not backfill:
            reason = Reason.PRIORITY
        if reason is not None:
            rows[job.id] = (reason, None, position, evaluated[i], job.nice)
            continue

        if n <= free_any:  # else it cannot fit now, whatever its model
            end = now + job.time_limit
            gpus = machine.try_place(n, gpu_type, end)
            if gpus is not None:
                machine.start(gpus, end)
                free_any -= n
                counters.add_job(job)
                running_names.add((job.user, job.name))
                factors, total = evaluated[i]
                breakdown = context.make_breakdown(factors, total, job.nice)
                starts.append(Start(job.id, gpus, breakdown))
                continue

        # Blocked by resources.
        waiting_for = Reason.RESOURCES
        if gpu_type is not None and machine.free_count(gpu_type) < n <= free_any:
            waiting_for = Reason.GPU_MODEL_BUSY  # enough GPUs are free, not of its model
        expected: float | None = None
        if len(machine.reservations) < max_reservations:
            reservation = machine.reserve(job.id, n, gpu_type, job.time_limit)
            if reservation is not None:
                expected = reservation.start
        if expected is None and blocked:
            waiting_for = Reason.PRIORITY
        rows[job.id] = (waiting_for, expected, position, evaluated[i], job.nice)
        blocked = True

    return Decisions(starts=tuple(starts), pending=PendingView(context, rows))
