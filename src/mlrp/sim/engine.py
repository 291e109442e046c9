"""Discrete-event replay of a trace through the pure scheduler (`mlrp.scheduler.decide`).

The clock jumps from event to event; the events are job arrivals (the trace's submit
times) and job ends (start + the trace's duration, kept in a heap). At each event time:

1. fair-share usage is brought up to date: every (account, user) usage decays with the
   policy's half-life, and each running job adds its GPUs x the (decayed) seconds since
   the previous event — the exact integral of a constant rate under exponential decay;
2. ended jobs leave the cluster, arrivals join the queue as pending `QueuedJob`s;
3. a `Snapshot` is built and the same `decide` the daemon uses is called; every `Start`
   it returns begins now on the GPUs it names.

Modelling choices of this first cut (documented, to be revisited):

* A cluster `nodes x gpus_per_node` is that many nodes (`GpuSlot.node` "n0", "n1", ...):
  a job that fits in one node runs on one node (best fit), a larger one spans nodes
  under the lowest switch of the topology (`switches`, like Slurm's topology.conf; by
  default every node under one switch).
* A job's user is the trace's user when it has one, else its account (Philly has teams,
  not users).
* A job's time limit is the trace's when it has one (Slurm history); it then runs for
  its duration or its limit, whichever is shorter, as Slurm would have stopped it. A
  trace without limits (Philly) gets its actual duration rounded up to the next whole
  minute (at least one minute): an optimistic stand-in, backfill reservations are then
  made with near-perfect run-time estimates.
* Usage is charged at `billing_rate` of the simulated GPU model and the job's QOS, as
  the daemon charges it.
* The scheduler runs only at event times, and is skipped when nothing can start (no
  pending job asks for at most the free GPUs): the result is the same, since `decide`
  starts only jobs that fit in the free GPUs.
* Passes are at least `interval` simulated seconds apart (default 60 s, like Slurm's
  periodic backfill pass; 0 = a pass at every event): an event that could start a job
  inside the interval defers the pass to the interval's end. This bounds the cost of a
  heavily loaded replay, where every pass walks a queue of thousands of jobs.
* Jobs asking for more GPUs than the cluster has are skipped and counted, never queued.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlrp.errors import InvalidSpec, MlrpError
from mlrp.models.policy import Account, Policy, Weights
from mlrp.scheduler import (
    ClusterState,
    GpuSlot,
    QueuedJob,
    RunningJob,
    Snapshot,
    Switch,
    billing_rate,
    decay,
    decide,
    share_tree,
)
from mlrp.sim.trace import TraceJob

POLICIES = ("default", "fifo", "nobackfill")
DEFAULT_INTERVAL = 60.0  # simulated seconds between scheduling passes, at least
PARTITION = "batch"
QOS = "normal"
GPU_MODEL = "simulated"


@dataclass(frozen=True, slots=True)
class Cluster:
    nodes: int
    gpus_per_node: int

    @property
    def total_gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    def __str__(self) -> str:
        return f"{self.nodes}x{self.gpus_per_node}"


_CLUSTER = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def parse_cluster(text: str) -> Cluster:
    """`NODESxGPUS` (e.g. `64x8`), both at least 1."""
    m = _CLUSTER.fullmatch(text)
    if m is None:
        raise InvalidSpec(f"bad cluster {text!r}: expected NODESxGPUS, e.g. 64x8")
    nodes, gpus = int(m.group(1)), int(m.group(2))
    if nodes < 1 or gpus < 1:
        raise InvalidSpec(f"bad cluster {text!r}: nodes and GPUs per node must be >= 1")
    return Cluster(nodes, gpus)


def node_name(index: int) -> str:
    """The name of the simulated cluster's node `index`: n0, n1, ..."""
    return f"n{index}"


def make_policy(name: str, accounts: Sequence[str]) -> Policy:
    """The named simulation policy, every account an equal-share child of the root.

    * default: the default Policy weights, backfill on;
    * fifo: every weight 0 except age, backfill off (strict arrival order);
    * nobackfill: the default weights, backfill off.
    """
    if name not in POLICIES:
        raise InvalidSpec(f"unknown policy {name!r}: expected one of {', '.join(POLICIES)}")
    kwargs: dict[str, object] = {
        "accounts": [Account(name=a) for a in dict.fromkeys(accounts)],
        "default_account": None,
        "backfill": name == "default",
    }
    if name == "fifo":
        kwargs["weights"] = Weights(age=1000, fairshare=0, job_size=0, qos=0, partition=0)
    return Policy.model_validate(kwargs)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    account: str
    gpus: int
    submit: float
    start: float
    end: float
    gpu_ids: tuple[int, ...] = ()  # which GPUs (node = index // gpus_per_node)


@dataclass(frozen=True, slots=True)
class SimResult:
    cluster: Cluster
    policy: str
    records: tuple[JobRecord, ...]  # in end order
    skipped: tuple[int, ...]  # ids of jobs asking for more GPUs than the cluster has
    passes: int  # calls to decide
    events: int  # distinct event times
    # account -> its entitled fraction of the cluster (normalized shares down the tree)
    entitlement: Mapping[str, float]


def entitlements(policy: Policy) -> dict[str, float]:
    """Each account's normalized share of the whole cluster (Slurm's S, down the tree)."""
    return {r.account: r.norm_shares for r in share_tree(policy, {}) if r.user is None}


def time_limit_for(duration: float) -> int:
    """The requested-limit stand-in: the duration rounded up to a whole minute, >= 60 s."""
    return max(60, math.ceil(duration / 60.0) * 60)


def simulate(
    jobs: Sequence[TraceJob],
    cluster: Cluster,
    policy: str | Policy,
    interval: float = DEFAULT_INTERVAL,
    progress: Callable[[int, int], None] | None = None,
    switches: Sequence[Switch] = (),
) -> SimResult:
    """Replay `jobs` (any order) on `cluster` under `policy` (a name of POLICIES, or a
    Policy whose accounts should list the trace's accounts).

    `interval`: the least simulated time between two scheduling passes (0: a pass at
    every event that could start something); an event inside the interval defers its
    pass to the interval's end.

    `progress(done, total)`, when given, is called now and then with the number of jobs
    that have arrived so far and the number in the trace.
    """
    if interval < 0 or not math.isfinite(interval):
        raise InvalidSpec(f"interval must be a finite number >= 0, not {interval}")
    arrivals = sorted(jobs, key=lambda j: (j.submit, j.id))
    if len({j.id for j in arrivals}) != len(arrivals):
        raise InvalidSpec("trace job ids must be unique")
    if isinstance(policy, Policy):
        pol, policy_name = policy, "custom"
    else:
        pol, policy_name = make_policy(policy, [j.account for j in arrivals]), policy
    total = cluster.total_gpus
    per_node = cluster.gpus_per_node
    slots = tuple(GpuSlot(i, GPU_MODEL, node=node_name(i // per_node)) for i in range(total))
    switch_tuple = tuple(switches)
    half_life = pol.half_life
    rate = billing_rate(pol, GPU_MODEL, QOS)
    rate_scale = half_life / math.log(2.0)  # integral of 2^(-s/h) ds over [0, inf)

    by_id = {j.id: j for j in arrivals}
    state = ClusterState(slots, (), switch_tuple)  # kept between passes, see decide
    pending: dict[int, QueuedJob] = {}
    pending_sizes: Counter[int] = Counter()
    running: dict[int, RunningJob] = {}
    running_gpus: Counter[tuple[str, str]] = Counter()  # (account, user) -> GPUs running
    runtimes: dict[int, float] = {}  # job id -> how long it runs once started
    usage: dict[tuple[str, str], float] = {}
    ends: list[tuple[float, int]] = []
    starts: dict[int, float] = {}
    records: list[JobRecord] = []
    skipped: list[int] = []
    free = total
    passes = events = 0
    i, n_jobs = 0, len(arrivals)
    last = arrivals[0].submit if arrivals else 0.0
    next_pass = -math.inf  # no pass before this time
    wake: float | None = None  # a deferred pass

    while i < n_jobs or ends or wake is not None:
        now = ends[0][0] if ends else math.inf
        if i < n_jobs and arrivals[i].submit < now:
            now = arrivals[i].submit
        if wake is not None and wake <= now:
            now, wake = wake, None
        events += 1
        if progress is not None and events % 1024 == 0:
            progress(i, n_jobs)

        # 1. usage, decayed and accrued up to now
        elapsed = now - last
        if elapsed > 0:
            factor = decay(1.0, elapsed, half_life)
            for key in usage:
                usage[key] *= factor
            gained = rate * rate_scale * (1.0 - factor)
            for key, gpus in running_gpus.items():
                if gpus:
                    usage[key] = usage.get(key, 0.0) + gpus * gained
            last = now

        # 2. ends, then arrivals
        while ends and ends[0][0] <= now:
            end, job_id = heapq.heappop(ends)
            done = running.pop(job_id)
            state.release(done.gpus)
            free += len(done.gpus)
            running_gpus[(done.account, done.user)] -= len(done.gpus)
            job = by_id[job_id]
            records.append(
                JobRecord(job_id, job.account, job.gpus, job.submit, starts[job_id], end, done.gpus)
            )
        while i < n_jobs and arrivals[i].submit <= now:
            job = arrivals[i]
            i += 1
            if job.gpus > total:
                skipped.append(job.id)
                continue
            limit = job.time_limit if job.time_limit else time_limit_for(job.duration)
            runtimes[job.id] = min(job.duration, limit)
            pending[job.id] = queued = QueuedJob(
                id=job.id,
                user=job.user or job.account,
                account=job.account,
                partition=PARTITION,
                qos=QOS,
                gpus=job.gpus,
                gpu_type=None,
                time_limit=limit,
                submit_time=job.submit,
                begin_time=None,
                nice=0,
                held=False,
                name=f"trace-{job.id}",
                array_job_id=None,
                array_throttle=None,
            )
            pending_sizes[job.gpus] += 1
            state.queue(queued)

        # 3. schedule, unless nothing pending can fit in the free GPUs
        if not pending or free == 0 or min(pending_sizes) > free:
            continue
        if now < next_pass:
            wake = next_pass
            continue
        next_pass = now + interval
        passes += 1
        snapshot = Snapshot(
            now=now,
            policy=pol,
            gpus=slots,
            pending=tuple(pending.values()),
            running=tuple(running.values()),
            usage=usage,
            switches=switch_tuple,
        )
        for start in decide(snapshot, state).starts:
            queued = pending.pop(start.job_id)
            pending_sizes[queued.gpus] -= 1
            if not pending_sizes[queued.gpus]:
                del pending_sizes[queued.gpus]
            running[queued.id] = RunningJob(
                id=queued.id,
                user=queued.user,
                account=queued.account,
                partition=queued.partition,
                qos=queued.qos,
                gpus=start.gpus,
                start_time=now,
                time_limit=queued.time_limit,
                name=queued.name,
                array_job_id=None,
            )
            state.unqueue(queued)
            state.occupy(start.gpus, now + queued.time_limit)
            free -= len(start.gpus)
            running_gpus[(queued.account, queued.user)] += len(start.gpus)
            starts[queued.id] = now
            heapq.heappush(ends, (now + runtimes[queued.id], queued.id))
        if free < 0:  # decide must never over-subscribe; fail loudly if it does
            raise MlrpError(f"simulator: GPUs over-subscribed at t={now}")

    if pending:  # cannot happen: with nothing running, decide starts any job that fits
        raise MlrpError(f"simulator: {len(pending)} job(s) never started")
    if progress is not None:
        progress(n_jobs, n_jobs)
    return SimResult(
        cluster,
        policy_name,
        tuple(records),
        tuple(skipped),
        passes,
        events,
        entitlements(pol),
    )
