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
* Preemption (fair share, or QOS in a custom policy) has no grace time: the victims
  stop at once and go back to the queue, keeping their id and submit time. A victim
  resumes from its last checkpoint, every `checkpoint_interval` seconds of its run (0:
  from the start); the work since then is lost and counted. A fair-share preemptor
  starts at once on the GPUs the pass gave it; a QOS one waits for a later pass.
* With fair-share preemption, a pass also runs when nothing pending fits but an
  account with work pending is below its fair share while another is above it (a
  preemption may be due), at most once per interval.
"""

from __future__ import annotations

import gc
import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlrp.errors import InvalidSpec, MlrpError
from mlrp.models.policy import Account, Policy, Weights
from mlrp.scheduler import (
    SHARE_TOLERANCE,
    ClusterState,
    FairShares,
    GpuSlot,
    QueuedJob,
    RunningJob,
    Snapshot,
    Switch,
    billing_rate,
    decay,
    decide,
    entitlements,
)
from mlrp.sim.trace import TraceJob

POLICIES = ("default", "fifo", "nobackfill", "nopreempt", "nomove", "noovershoot")
DEFAULT_INTERVAL = 60.0  # simulated seconds between scheduling passes, at least
DEFAULT_CHECKPOINT = 3600.0  # a preempted job resumes from its last whole hour of work
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

    * default: the default Policy (weights, backfill, fair-share preemption);
    * fifo: every weight 0 except age, backfill and preemption off (strict arrival order);
    * nobackfill: the default Policy with backfill off;
    * nopreempt: the default Policy with fair-share preemption off;
    * nomove: the default Policy without moving jobs to make room for fair-share
      preemptors (`fairshare_relocation` off);
    * noovershoot: the default Policy with every fair-share preemptor held to the rule
      for jobs within a node (`fairshare_gang_overshoot` off).
    """
    if name not in POLICIES:
        raise InvalidSpec(f"unknown policy {name!r}: expected one of {', '.join(POLICIES)}")
    kwargs: dict[str, object] = {
        "accounts": [Account(name=a) for a in dict.fromkeys(accounts)],
        "default_account": None,
        "backfill": name not in ("fifo", "nobackfill"),
    }
    if name == "fifo":
        kwargs["weights"] = Weights(age=1000, fairshare=0, job_size=0, qos=0, partition=0)
    if name in ("fifo", "nopreempt"):
        kwargs["fairshare_preemption"] = False
    if name == "nomove":
        kwargs["fairshare_relocation"] = False
    if name == "noovershoot":
        kwargs["fairshare_gang_overshoot"] = False
    return Policy.model_validate(kwargs)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    account: str
    gpus: int
    submit: float
    start: float
    end: float
    gpu_ids: tuple[int, ...] = ()  # which GPUs of its last run (node = index // gpus_per_node)
    # runs cut short by preemptions, (start, stop) each; the last run began at last_start
    preempted_runs: tuple[tuple[float, float], ...] = ()
    last_start: float | None = None

    @property
    def runs(self) -> tuple[tuple[float, float], ...]:
        """Every (start, end) the job ran, in time order."""
        last = self.start if self.last_start is None else self.last_start
        return (*self.preempted_runs, (last, self.end))


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
    preemptions: int = 0  # runs cut short
    lost_gpu_seconds: float = 0.0  # work since the victims' last checkpoints
    moved: int = 0  # of the runs cut short, those stopped to restart elsewhere


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
    checkpoint_interval: float = DEFAULT_CHECKPOINT,
) -> SimResult:
    """Replay `jobs` (any order) on `cluster` under `policy` (a name of POLICIES, or a
    Policy whose accounts should list the trace's accounts).

    `interval`: the least simulated time between two scheduling passes (0: a pass at
    every event that could start something); an event inside the interval defers its
    pass to the interval's end. `checkpoint_interval`: how often a job saves its work,
    for the work a preemption loses (0: never).

    `progress(done, total)`, when given, is called now and then with the number of jobs
    that have arrived so far and the number in the trace.
    """
    if interval < 0 or not math.isfinite(interval):
        raise InvalidSpec(f"interval must be a finite number >= 0, not {interval}")
    if checkpoint_interval < 0 or not math.isfinite(checkpoint_interval):
        raise InvalidSpec(
            f"checkpoint interval must be a finite number >= 0, not {checkpoint_interval}"
        )
    arrivals = sorted(jobs, key=lambda j: (j.submit, j.id))
    if len({j.id for j in arrivals}) != len(arrivals):
        raise InvalidSpec("trace job ids must be unique")
    if isinstance(policy, Policy):
        pol, policy_name = policy, "custom"
    else:
        pol, policy_name = make_policy(policy, [j.account for j in arrivals]), policy
    replay = _Replay(arrivals, cluster, pol, interval, switches, checkpoint_interval)
    # A replay makes no reference cycles to collect (the whole Philly trace peaks at
    # 120 MB with the cyclic collector on or off), while the collector keeps scanning
    # its many live jobs: 1.2 s of a 70 s whole-trace replay, timed by gc.callbacks.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return replay.run(policy_name, progress)
    finally:
        if collecting:
            gc.enable()


class _Replay:
    """The state of one replay: the clock, the queue, the running jobs, the usage."""

    def __init__(
        self,
        arrivals: Sequence[TraceJob],
        cluster: Cluster,
        policy: Policy,
        interval: float,
        switches: Sequence[Switch],
        checkpoint_interval: float,
    ) -> None:
        self.arrivals = arrivals
        self.cluster = cluster
        self.policy = policy
        self.interval = interval
        self.checkpoint_interval = checkpoint_interval
        total = cluster.total_gpus
        per_node = cluster.gpus_per_node
        self.slots = tuple(
            GpuSlot(i, GPU_MODEL, node=node_name(i // per_node)) for i in range(total)
        )
        self.switches = tuple(switches)
        self.by_id = {j.id: j for j in arrivals}
        self.state = ClusterState(self.slots, (), self.switches)  # kept between passes
        self.pending = _Pending()
        self.queued: dict[int, QueuedJob] = {}  # every job that arrived, as queued
        self.pending_sizes: Counter[int] = Counter()
        # account -> the sizes (GPUs) of its pending jobs, and of its running ones
        self.pending_by_account: dict[str, Counter[int]] = {}
        self.running_by_account: dict[str, Counter[int]] = {}
        self.running: dict[int, RunningJob] = {}
        self.running_gpus: Counter[tuple[str, str]] = Counter()  # (account, user) -> GPUs
        self.entitlement = entitlements(policy)
        self.left: dict[int, float] = {}  # job id -> the run time it still needs
        self.usage: dict[tuple[str, str], float] = {}
        self.ends: list[tuple[float, int]] = []  # (end, job id); stale when not in ending
        self.ending: dict[int, float] = {}  # running job id -> its end
        self.first_start: dict[int, float] = {}
        self.preempted_runs: dict[int, list[tuple[float, float]]] = {}
        self.records: list[JobRecord] = []
        self.skipped: list[int] = []
        self.free = total
        self.preemptions = 0
        self.lost = 0.0
        self.moved = 0

    def run(self, policy_name: str, progress: Callable[[int, int], None] | None) -> SimResult:
        arrivals, pol = self.arrivals, self.policy
        half_life = pol.half_life
        rate = billing_rate(pol, GPU_MODEL, QOS)
        rate_scale = half_life / math.log(2.0)  # integral of 2^(-s/h) ds over [0, inf)
        pending, usage, ends = self.pending, self.usage, self.ends
        fair = pol.fairshare_preemption
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
                for key, gpus in self.running_gpus.items():
                    if gpus:
                        usage[key] = usage.get(key, 0.0) + gpus * gained
                last = now

            # 2. ends, then arrivals
            while ends and ends[0][0] <= now:
                end, job_id = heapq.heappop(ends)
                if self.ending.get(job_id) == end:
                    self._finish(job_id, end)
            while i < n_jobs and arrivals[i].submit <= now:
                self._arrive(arrivals[i])
                i += 1

            # 3. schedule, unless nothing pending can fit in the free GPUs (and no
            # fair-share preemption may be due)
            if not pending:
                continue
            if wake is not None:  # a pass is due at next_pass already (wake == next_pass)
                continue
            if self._nothing_fits() and not (fair and self._preemption_may_be_due()):
                continue
            if now < next_pass:
                wake = next_pass
                continue
            next_pass = now + self.interval
            passes += 1
            snapshot = Snapshot(
                now=now,
                policy=pol,
                gpus=self.slots,
                pending=tuple(pending.jobs),
                running=tuple(self.running.values()),
                usage=usage,
                switches=self.switches,
            )
            decisions = decide(snapshot, self.state)
            for preemption in decisions.preemptions:
                for victim in preemption.victims:
                    if victim in self.running:
                        self._preempt(victim, now)
                self.moved += len(preemption.moved)
            for preemption in decisions.preemptions:
                if preemption.gpus:
                    self._start(preemption.job_id, preemption.gpus, now)
            for start in decisions.starts:
                self._start(start.job_id, start.gpus, now)
            if decisions.preemptions:  # the requeued victims (moved ones first) try again
                wake = next_pass
            if self.free < 0:  # decide must never over-subscribe; fail loudly if it does
                raise MlrpError(f"simulator: GPUs over-subscribed at t={now}")

        if pending:  # cannot happen: with nothing running, decide starts any job that fits
            raise MlrpError(f"simulator: {len(pending)} job(s) never started")
        if progress is not None:
            progress(n_jobs, n_jobs)
        return SimResult(
            self.cluster,
            policy_name,
            tuple(self.records),
            tuple(self.skipped),
            passes,
            events,
            self.entitlement,
            self.preemptions,
            self.lost,
            self.moved,
        )

    def _arrive(self, job: TraceJob) -> None:
        if job.gpus > self.cluster.total_gpus:
            self.skipped.append(job.id)
            return
        limit = job.time_limit if job.time_limit else time_limit_for(job.duration)
        self.left[job.id] = min(job.duration, limit)
        self.queued[job.id] = queued = QueuedJob(
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
        self._enqueue(queued)

    def _enqueue(self, queued: QueuedJob) -> None:
        self.pending.add(queued)
        self.pending_sizes[queued.gpus] += 1
        self.pending_by_account.setdefault(queued.account, Counter())[queued.gpus] += 1
        self.state.queue(queued)

    def _start(self, job_id: int, gpus: tuple[int, ...], now: float) -> None:
        queued = self.pending.remove(job_id)
        self.pending_sizes[queued.gpus] -= 1
        if not self.pending_sizes[queued.gpus]:
            del self.pending_sizes[queued.gpus]
        _count_out(self.pending_by_account[queued.account], queued.gpus)
        self.running_by_account.setdefault(queued.account, Counter())[len(gpus)] += 1
        self.running[job_id] = running = RunningJob(
            id=job_id,
            user=queued.user,
            account=queued.account,
            partition=queued.partition,
            qos=queued.qos,
            gpus=gpus,
            start_time=now,
            time_limit=queued.time_limit,
            name=queued.name,
            array_job_id=None,
            gpu_type=queued.gpu_type.lower() if queued.gpu_type else None,
        )
        self.state.unqueue(queued)
        self.state.start(running)
        self._hold(queued.account, queued.user, len(gpus))
        self.first_start.setdefault(job_id, now)
        end = now + self.left[job_id]
        self.ending[job_id] = end
        heapq.heappush(self.ends, (end, job_id))

    def _hold(self, account: str, user: str, gpus: int) -> None:
        self.free -= gpus
        self.running_gpus[(account, user)] += gpus

    def _stop(self, job_id: int) -> RunningJob:
        done = self.running.pop(job_id)
        del self.ending[job_id]
        self.state.stop(done)
        self._hold(done.account, done.user, -len(done.gpus))
        _count_out(self.running_by_account[done.account], len(done.gpus))
        return done

    def _finish(self, job_id: int, end: float) -> None:
        done = self._stop(job_id)
        job = self.by_id[job_id]
        runs = self.preempted_runs.pop(job_id, [])
        self.records.append(
            JobRecord(
                job_id,
                job.account,
                job.gpus,
                job.submit,
                self.first_start[job_id],
                end,
                done.gpus,
                tuple(runs),
                done.start_time if runs else None,
            )
        )

    def _preempt(self, job_id: int, now: float) -> None:
        """Stop a running job now and queue it again; it keeps its work up to its last
        checkpoint."""
        done = self._stop(job_id)
        ran = now - done.start_time
        every = self.checkpoint_interval
        kept = (ran // every) * every if every > 0 else 0.0
        self.left[job_id] -= kept
        self.lost += (ran - kept) * len(done.gpus)
        self.preemptions += 1
        self.preempted_runs.setdefault(job_id, []).append((done.start_time, now))
        self._enqueue(self.queued[job_id])

    def _nothing_fits(self) -> bool:
        """Whether no pending job fits in the free GPUs (reservations aside): a job that
        fits in a node needs that many free on one node, a larger one that many in all.
        A pass then starts nothing."""
        if self.free == 0:
            return True
        per_node = self.cluster.gpus_per_node
        most = self.state.most_free_on_a_node()
        return not any(
            size <= (most if size <= per_node else self.free) for size in self.pending_sizes
        )

    def _preemption_may_be_due(self) -> bool:
        """Whether a pending job may find fair-share victims, by what any fair-share
        preemption needs (fair_preemption.py): its account with it (a job larger than a
        node: without it) would be at or below the share of another account that gave
        up its smallest running job, and the GPUs other accounts hold above the share
        FairShares.floor asks cover what the roomiest node (for a larger job: all free
        GPUs) lacks. When nothing fits and no job passes, a pass would decide nothing."""
        entitled, held = self.entitlement, self.state.running.held  # account -> GPUs
        # the two highest shares an account has after losing its smallest running job
        # (with twice keeps_fair's tolerance: float rounding only ever adds a pass)
        tops = sorted(
            ((held[a] - min(sizes) + 2 * SHARE_TOLERANCE) / entitled[a], a)
            for a, sizes in self.running_by_account.items()
            if sizes and a in entitled
        )[-2:]
        per_node, most = self.cluster.gpus_per_node, self.state.most_free_on_a_node()
        overshoot = self.policy.fairshare_gang_overshoot
        fair: FairShares | None = None
        for account, sizes in self.pending_by_account.items():
            if account not in entitled:
                continue
            for size in sizes:
                # FairShares.floor: a job that spans nodes may count without itself
                counted = 0 if overshoot and size > per_node else size
                mine = (held.get(account, 0) + counted) / entitled[account]
                if not any(top >= mine for top, other in tops if other != account):
                    continue
                if fair is None:
                    fair = FairShares(self.policy, held, lambda _model: per_node)
                freeable = fair.freeable(account, size, None)
                if freeable >= size - (most if size <= per_node else self.free):
                    return True
        return False


class _Pending:
    """The pending jobs, as a list that a snapshot copies in one go (a dict's values
    copy several times slower once jobs have come and gone), with each job's place in
    it. A job leaves by the last one taking its place: a pass does not depend on the
    order of its pending jobs."""

    __slots__ = ("_at", "jobs")

    def __init__(self) -> None:
        self.jobs: list[QueuedJob] = []
        self._at: dict[int, int] = {}  # job id -> its index in jobs

    def add(self, job: QueuedJob) -> None:
        self._at[job.id] = len(self.jobs)
        self.jobs.append(job)

    def remove(self, job_id: int) -> QueuedJob:
        at = self._at.pop(job_id)
        job, last = self.jobs[at], self.jobs.pop()
        if last is not job:
            self.jobs[at] = last
            self._at[last.id] = at
        return job

    def __len__(self) -> int:
        return len(self.jobs)


def _count_out(sizes: Counter[int], size: int) -> None:
    """One job of `size` fewer in `sizes` (sizes no job has left are dropped)."""
    sizes[size] -= 1
    if not sizes[size]:
        del sizes[size]
