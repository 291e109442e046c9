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

from collections.abc import Callable, Collection, Iterable, Sequence

from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.snapshot import QueuedJob, RunningJob, Snapshot

# (lost work, id, GPUs): a candidate victim
_Candidate = tuple[float, int, int]


def lost_work(job: RunningJob, now: float) -> float:
    """GPU-seconds a job loses when stopped now (as if it kept no checkpoint)."""
    return max(now - job.start_time, 0.0) * len(job.gpus)


def victim_pool(snapshot: Snapshot) -> tuple[RunningJob, ...]:
    """The running jobs that matter to QOS preemption in this pass: those of a QOS some
    QOS may preempt, and those already being preempted. Empty (the usual case): no
    blocked job needs to look for victims."""
    preemptible = {name for qos in snapshot.policy.qos for name in qos.preempt}
    return tuple(r for r in snapshot.running if r.preempting or r.qos in preemptible)


class Candidates:
    """Running jobs as preemption candidates in one pass, with each job's GPUs per node
    (of the model a preemptor asks for) worked out when first needed and reused by every
    preemptor of the pass."""

    __slots__ = ("_machine", "_placed", "now", "running")

    def __init__(self, running: Sequence[RunningJob], machine: Machine, now: float) -> None:
        self.running = running
        self.now = now
        self._machine = machine
        # (job id, model) -> (node -> its GPUs of the model there, GPUs of the model)
        self._placed: dict[tuple[int, str | None], tuple[dict[int, int], int]] = {}

    def placed(self, job: RunningJob, gpu_type: str | None) -> tuple[dict[int, int], int]:
        """node -> the job's GPUs of `gpu_type` (None: any) there, and how many in all."""
        key = (job.id, gpu_type)
        placed = self._placed.get(key)
        if placed is None:
            per_node = self._machine.gpus_per_node(job.gpus, gpu_type)
            placed = self._placed[key] = (per_node, sum(per_node.values()))
        return placed


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
) -> list[int]:
    """The ids of the running jobs of `candidates` that `eligible` allows, cheapest in
    lost work, freeing enough GPUs of the job's model for it (empty: none can or need
    be). Jobs already being preempted, or in `freeing_ids`, count as freeing their GPUs;
    jobs in `skip` are left out. `accept(victims)`, when given, may refuse a set."""
    gpu_type = job.gpu_type.lower() if job.gpu_type else None
    freeing_ids = set(freeing_ids)
    # node -> GPUs freeing up because of preemptions already under way
    freeing: dict[int, int] = {}
    by_node: dict[int, list[_Candidate]] = {}  # node -> (cost, id, GPUs on the node)
    anywhere: list[_Candidate] = []  # (cost, id, GPUs on every node)
    now = candidates.now
    for running in candidates.running:
        if running.id in skip:
            continue
        if running.preempting or running.id in freeing_ids:
            per_node, _ = candidates.placed(running, gpu_type)
            for node, n in per_node.items():
                freeing[node] = freeing.get(node, 0) + n
        elif eligible(running):
            per_node, count = candidates.placed(running, gpu_type)
            if not count:
                continue
            cost = lost_work(running, now)
            for node, n in per_node.items():
                by_node.setdefault(node, []).append((cost, running.id, n))
            anywhere.append((cost, running.id, count))
    n = job.gpus
    if n <= machine.node_capacity(gpu_type):
        return _cheapest_on_one_node(n, gpu_type, machine, freeing, by_node, accept)
    have = machine.free_count(gpu_type) + sum(freeing.values())
    chosen = _enough(n - have, sorted(anywhere))
    if not chosen or (accept is not None and not accept(chosen)):
        return []
    return chosen


def _enough(need: int, victims: Sequence[_Candidate]) -> list[int] | None:
    """The cheapest-first prefix of `victims` freeing `need` GPUs; [] when none is
    needed, None when all of them are not enough."""
    if need <= 0:
        return []
    chosen: list[int] = []
    for _, victim, gpus in victims:
        chosen.append(victim)
        need -= gpus
        if need <= 0:
            return chosen
    return None


def _cheapest_on_one_node(
    n: int,
    gpu_type: str | None,
    machine: Machine,
    freeing: dict[int, int],
    candidates: dict[int, list[_Candidate]],
    accept: Callable[[list[int]], bool] | None,
) -> list[int]:
    best: tuple[float, list[int]] | None = None
    for node in sorted(candidates.keys() | freeing.keys()):
        victims = sorted(candidates.get(node, ()))
        have = machine.node_free(node, gpu_type) + freeing.get(node, 0)
        if have >= n:
            return []  # enough is already freeing up there
        chosen = _enough(n - have, victims)
        if not chosen or (accept is not None and not accept(chosen)):
            continue
        cost = sum(c for c, v, _ in victims if v in chosen)
        if best is None or cost < best[0]:
            best = (cost, chosen)
    return best[1] if best is not None else []
