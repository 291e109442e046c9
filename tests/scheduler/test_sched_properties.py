"""Property tests over random snapshots, and a small discrete-event loop."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlrp.models.policy import Account, Partition, Policy, Qos, Weights
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.scheduler import (
    Decisions,
    DepRef,
    GpuSlot,
    QueuedJob,
    RunningJob,
    Snapshot,
    decide,
    dependency_reason,
)

NOW = 50_000.0
MODELS = ("a100", "h200")
USERS = ("u1", "u2", "u3")
ACCOUNTS = ("lab", "vision", "default")
NAMES = ("train", "eval")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LIMITS = st.one_of(st.none(), st.integers(0, 6))


@st.composite
def policies(draw, no_limits: bool = False) -> Policy:
    limits = st.none() if no_limits else LIMITS
    return Policy(
        accounts=[
            Account(name="lab", shares=draw(st.integers(1, 4)), users=["u1"],
                    max_gpus=draw(limits), max_gpus_per_user=draw(limits)),
            Account(name="vision", parent="lab", users=["u2", "u3"], max_gpus=draw(limits)),
            Account(name="default", shares=draw(st.integers(1, 4))),
        ],
        partitions=[
            Partition(name="batch", max_gpus=draw(limits)),
            Partition(name="interactive", priority_tier=1, max_gpus=draw(limits)),
        ],
        qos=[
            Qos(name="normal", max_gpus_per_user=draw(limits)),
            Qos(name="high", priority=100, max_gpus_per_user=draw(limits)),
        ],
        weights=Weights(
            age=draw(st.integers(0, 1000)),
            fairshare=draw(st.integers(0, 10000)),
            job_size=draw(st.integers(0, 1000)),
            qos=draw(st.integers(0, 2000)),
            partition=draw(st.integers(0, 1000)),
        ),
        age_max=draw(st.sampled_from([1000.0, 86400.0])),
        max_gpus_per_user=draw(limits),
        backfill=draw(st.booleans()),
        reservations=draw(st.integers(1, 3)),
    )  # fmt: skip


def owner(draw):
    account = draw(st.sampled_from(ACCOUNTS))
    return dict(
        user=draw(st.sampled_from(USERS)),
        account=account,
        partition=draw(st.sampled_from(("batch", "interactive"))),
        qos=draw(st.sampled_from(("normal", "high"))),
        name=draw(st.sampled_from(NAMES)),
        array_job_id=draw(st.sampled_from((None, None, 500, 501))),
    )


def with_throttles(draw, jobs: list[QueuedJob]) -> list[QueuedJob]:
    """One %N throttle per array, shared by all its tasks."""
    throttle = {a: draw(st.sampled_from((None, 1, 2))) for a in (500, 501)}
    return [
        replace(j, array_throttle=throttle[j.array_job_id]) if j.array_job_id else j for j in jobs
    ]


@st.composite
def deps(draw, ids):
    kinds = st.sampled_from(("after", "afterok", "afternotok", "afterany"))
    return tuple(
        DepRef(draw(kinds), draw(st.sampled_from(ids)), None)
        for _ in range(draw(st.integers(0, 2)))
    )


@st.composite
def snapshots(draw, busy: bool = False) -> Snapshot:
    """Random snapshots; `busy`: a machine mostly in use and a queue with fewer jobs
    blocked by other things than GPUs, so that reservations are common."""
    n = draw(st.integers(1, 8))
    models = [draw(st.sampled_from(MODELS)) for _ in range(n)]
    order = draw(st.permutations(range(n)))
    n_busy = draw(st.integers(n // 2, n) if busy else st.integers(0, n))
    running: list[RunningJob] = []
    i = 0
    while i < n_busy:
        size = draw(st.integers(1, n_busy - i))
        running.append(
            RunningJob(
                id=len(running) + 1,
                gpus=tuple(sorted(order[i : i + size])),
                start_time=NOW - draw(st.integers(0, 5000)),
                time_limit=draw(st.integers(1, 10000)),
                **owner(draw),
            )
        )
        i += size
    holder = {g: r.id for r in running for g in r.gpus}
    for g in order[n_busy:]:
        if draw(st.integers(0, 9)) == 0:
            holder[g] = 999  # held by a job the snapshot does not list
    slots = tuple(GpuSlot(g, models[g], holder.get(g)) for g in range(n))
    groups = draw(st.sampled_from([(), ((0, 1, 2, 3), (4, 5, 6, 7)), ((0, 1), (2, 3), (4, 5))]))
    pending = []
    for k in range(draw(st.integers(3 if busy else 0, 14))):
        pending.append(
            QueuedJob(
                id=100 + k,
                gpus=draw(st.integers(1, n) if busy else st.integers(0, 9)),
                gpu_type=draw(st.sampled_from((None, None, "a100", "H200", "v100"))),
                time_limit=draw(st.integers(1, 10000)),
                submit_time=NOW - draw(st.integers(0, 100000)),
                begin_time=None if busy else draw(st.sampled_from((None, NOW - 10, NOW + 10))),
                nice=draw(st.integers(-100, 100)),
                held=not busy and draw(st.integers(0, 9)) == 0,
                array_throttle=None,
                dependencies=() if busy else draw(deps([1, 2, 3, 4])),
                dependency_any=draw(st.booleans()),
                singleton=draw(st.integers(0, 4)) == 0,
                **owner(draw),
            )
        )
    pending = with_throttles(draw, pending)
    states = st.sampled_from(list(JobState))
    dependency_states = {
        (j, None): tuple(draw(st.lists(states, min_size=1, max_size=3))) for j in (1, 2, 3)
    }
    usage = {(a, u): float(draw(st.integers(0, 10**6))) for a in ACCOUNTS for u in USERS[:2]}
    return Snapshot(
        now=NOW,
        policy=draw(policies(no_limits=busy)),
        gpus=slots,
        pending=tuple(pending),
        running=tuple(running),
        usage=usage,
        dependency_states=dependency_states,
        link_groups=groups,
    )


def _ancestors(policy: Policy, account: str) -> list[str]:
    chain = []
    current = policy.account(account)
    while current is not None and current.name not in chain:
        chain.append(current.name)
        current = policy.account(current.parent) if current.parent else None
    return chain


def check_invariants(snap: Snapshot, d: Decisions) -> None:
    policy = snap.policy
    jobs = {j.id: j for j in snap.pending}
    started = {s.job_id: s.gpus for s in d.starts}
    assert len(started) == len(d.starts)
    assert set(started) | set(d.pending) == set(jobs)
    assert not set(started) & set(d.pending)

    model = {s.index: s.model for s in snap.gpus}
    busy = {s.index for s in snap.gpus if s.job_id is not None}
    busy |= {g for r in snap.running for g in r.gpus}
    taken: set[int] = set()
    running_names = {(r.user, r.name) for r in snap.running}
    for job_id, gpus in started.items():
        job = jobs[job_id]
        assert len(gpus) == job.gpus == len(set(gpus))
        assert set(gpus) <= set(model)
        assert not set(gpus) & busy, "a GPU already held"
        assert not set(gpus) & taken, "a GPU assigned twice"
        taken |= set(gpus)
        if job.gpu_type:
            assert all(model[g] == job.gpu_type.lower() for g in gpus)
        assert not job.held
        assert job.begin_time is None or job.begin_time <= snap.now
        assert dependency_reason(job, snap.dependency_states) is None
        if job.singleton:
            assert (job.user, job.name) not in running_names
    assert len(busy | taken) <= len(model)

    # Fair-share preemptions: victims are running jobs of other accounts, stopped once;
    # the preemptor's GPUs are free ones or its victims', given to no one else.
    running = {r.id: r for r in snap.running}
    stopped: set[int] = set()
    for p in d.preemptions:
        if not p.gpus:
            continue
        job = jobs[p.job_id]
        assert snap.policy.fairshare_preemption and p.job_id in d.pending
        assert p.victims and not set(p.victims) & stopped
        assert set(p.moved) < set(p.victims), "only jobs moved, or moved jobs not stopped"
        stopped |= set(p.victims)
        victims = [running[v] for v in p.victims]
        assert all(v.account != job.account and not v.preempting for v in victims)
        freed = {g for v in victims for g in v.gpus}
        held_by_others = {s.index for s in snap.gpus if s.job_id is not None} - freed
        assert len(p.gpus) == job.gpus == len(set(p.gpus))
        assert not set(p.gpus) & (busy - freed) and not set(p.gpus) & held_by_others
        assert not set(p.gpus) & taken, "a GPU assigned twice"
        assert set(p.gpus) & freed, "a preemption that frees nothing it uses"
        taken |= set(p.gpus) | freed

    # Limits: every bucket a GPU job started in is within its limit after the pass.
    after = [*snap.running, *(replace_running(jobs[i], g) for i, g in started.items())]
    gpu_count: Counter[tuple] = Counter()
    tasks: Counter[int] = Counter()
    for r in after:
        n = len(r.gpus)
        gpu_count[("qos", r.qos, r.user)] += n
        gpu_count[("user", r.user)] += n
        gpu_count[("partition", r.partition)] += n
        for a in _ancestors(policy, r.account):
            gpu_count[("account", a)] += n
            gpu_count[("account_user", a, r.user)] += n
        if r.array_job_id is not None:
            tasks[r.array_job_id] += 1
    for job_id in started:
        job = jobs[job_id]
        if job.array_job_id is not None and job.array_throttle:
            assert tasks[job.array_job_id] <= job.array_throttle
        if job.gpus == 0:
            continue
        qos = policy.qos_named(job.qos)
        bounds = [
            (("qos", job.qos, job.user), qos.max_gpus_per_user if qos else None),
            (("user", job.user), policy.max_gpus_per_user),
        ]
        partition = policy.partition(job.partition)
        bounds.append((("partition", job.partition), partition.max_gpus if partition else None))
        for a in _ancestors(policy, job.account):
            account = policy.account(a)
            assert account is not None
            bounds.append((("account", a), account.max_gpus))
            bounds.append((("account_user", a, job.user), account.max_gpus_per_user))
        for key, limit in bounds:
            if limit is not None:
                assert gpu_count[key] <= limit, key

    positions = sorted(info.position for info in d.pending.values())
    all_positions = set(range(1, len(jobs) + 1))
    assert set(positions) <= all_positions and len(set(positions)) == len(positions)
    for info in d.pending.values():
        assert info.expected_start is None or info.expected_start >= snap.now
    by_position = sorted(d.pending.values(), key=lambda info: info.position)
    totals = [info.priority.total for info in by_position]
    assert totals == sorted(totals, reverse=True)


def replace_running(job: QueuedJob, gpus: tuple[int, ...], start: float = NOW) -> RunningJob:
    return RunningJob(
        id=job.id, user=job.user, account=job.account, partition=job.partition, qos=job.qos,
        gpus=gpus, start_time=start, time_limit=job.time_limit, name=job.name,
        array_job_id=job.array_job_id,
    )  # fmt: skip


def _capacity(snap: Snapshot, job: QueuedJob) -> int:
    if job.gpu_type is None:
        return len(snap.gpus)
    return sum(1 for s in snap.gpus if s.model == job.gpu_type.lower())


def apply(snap: Snapshot, d: Decisions) -> Snapshot:
    """The snapshot right after the starts, at the same time."""
    jobs = {j.id: j for j in snap.pending}
    new = tuple(replace_running(jobs[s.job_id], s.gpus, snap.now) for s in d.starts)
    holder = {g: s.job_id for s in d.starts for g in s.gpus}
    slots = tuple(replace(s, job_id=holder.get(s.index, s.job_id)) for s in snap.gpus)
    started = {s.job_id for s in d.starts}
    return replace(
        snap,
        gpus=slots,
        running=snap.running + new,
        pending=tuple(j for j in snap.pending if j.id not in started),
    )


@SETTINGS
@given(snapshots())
def test_invariants(snap):
    d = decide(snap)
    check_invariants(snap, d)
    if not snap.policy.backfill:
        preemptors = {p.job_id for p in d.preemptions if p.gpus}  # counted as started
        blocked = [
            info.position
            for job in snap.pending
            if (info := d.pending.get(job.id)) is not None
            and info.reason in (Reason.RESOURCES, Reason.GPU_MODEL_BUSY)
            and job.gpus <= _capacity(snap, job)
            and job.id not in preemptors
        ]
        if blocked:
            positions = {j.id: i for i, j in enumerate(_ranked_ids(snap, d), start=1)}
            assert all(positions[s.job_id] < min(blocked) for s in d.starts)


def _ranked_ids(snap: Snapshot, d: Decisions) -> list[QueuedJob]:
    from mlrp.scheduler import prioritize

    return [job for job, _ in prioritize(snap)]


@SETTINGS
@given(st.one_of(snapshots(), snapshots(busy=True)))
def test_backfill_never_delays_the_first_reservation(snap):
    d = decide(snap)
    reserved = [
        (info.position, job_id, info.expected_start)
        for job_id, info in d.pending.items()
        if info.expected_start is not None
    ]
    if not reserved:
        event("no reservation")
        return
    _, top, t_res = min(reserved)
    again = decide(apply(snap, d))
    if top in {s.job_id for s in again.starts}:
        event("top job starts after the backfill")
        return
    info = again.pending[top]
    event(f"top job then: {info.reason}")
    if info.reason in (Reason.RESOURCES, Reason.GPU_MODEL_BUSY):
        assert info.expected_start is not None and info.expected_start <= t_res
    else:
        # Only a limit or the singleton rule (a backfilled job of the same user) may
        # hold it back now; resources may not.
        assert info.reason not in (Reason.PRIORITY,), info


@st.composite
def workloads(draw):
    n = draw(st.integers(1, 8))
    models = [draw(st.sampled_from(MODELS)) for _ in range(n)]
    pol = draw(policies())
    caps = [
        pol.max_gpus_per_user,
        *(a.max_gpus for a in pol.accounts),
        *(a.max_gpus_per_user for a in pol.accounts),
        *(p.max_gpus for p in pol.partitions),
        *(q.max_gpus_per_user for q in pol.qos),
    ]
    biggest = min([n, *(c for c in caps if c is not None)])
    jobs = []
    for k in range(draw(st.integers(1, 15))):
        gpu_type = draw(st.sampled_from((None, *MODELS)))
        fits = n if gpu_type is None else models.count(gpu_type)
        if fits == 0:
            gpu_type, fits = None, n
        earlier = [100 + i for i in range(k)]
        jobs.append(
            QueuedJob(
                id=100 + k,
                gpus=draw(st.integers(0, min(fits, biggest))),
                gpu_type=gpu_type,
                time_limit=draw(st.integers(1, 5000)),
                submit_time=float(draw(st.integers(0, 100))),
                begin_time=draw(st.sampled_from((None, None, 500.0))),
                nice=draw(st.integers(-100, 100)),
                held=False,
                array_throttle=None,
                dependencies=draw(deps(earlier)) if earlier else (),
                dependency_any=draw(st.booleans()),
                singleton=draw(st.integers(0, 3)) == 0,
                **owner(draw),
            )
        )
    jobs = with_throttles(draw, jobs)
    # Only kinds that a job which completes eventually satisfies.
    jobs = [
        replace(j, dependencies=tuple(
            replace(dep, kind="afterok") if dep.kind == "afternotok" else dep
            for dep in j.dependencies
        ))
        for j in jobs
    ]  # fmt: skip
    return n, models, pol, draw(st.sampled_from([(), ((0, 1, 2, 3), (4, 5, 6, 7))])), jobs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_every_job_eventually_runs(workload):
    n, models, pol, groups, jobs = workload
    now = 0.0
    pending = list(jobs)
    running: list[RunningJob] = []
    done: set[int] = set()
    usage: Counter[tuple[str, str]] = Counter()
    for _ in range(3 * len(jobs) + 5):
        if not pending:
            break
        states = {(j.id, None): (JobState.PENDING,) for j in pending}
        states.update({(r.id, None): (JobState.RUNNING,) for r in running})
        states.update({(i, None): (JobState.COMPLETED,) for i in done})
        holder = {g: r.id for r in running for g in r.gpus}
        snap = Snapshot(
            now=now,
            policy=pol,
            gpus=tuple(GpuSlot(g, models[g], holder.get(g)) for g in range(n)),
            pending=tuple(pending),
            running=tuple(running),
            usage=dict(usage),
            dependency_states=states,
            link_groups=groups,
        )
        d = decide(snap)
        check_invariants(snap, d)
        by_id = {j.id: j for j in pending}
        for s in d.starts:
            running.append(replace_running(by_id[s.job_id], s.gpus, now))
        started = {s.job_id for s in d.starts}
        pending = [j for j in pending if j.id not in started]
        events = [r.start_time + r.time_limit for r in running]
        events += [j.begin_time for j in pending if j.begin_time and j.begin_time > now]
        if not pending:
            break
        assert events, f"stuck at {now}: {dict((i, p.reason) for i, p in d.pending.items())}"
        now = min(events)
        for r in [r for r in running if r.start_time + r.time_limit <= now]:
            running.remove(r)
            done.add(r.id)
            usage[(r.account, r.user)] += len(r.gpus) * r.time_limit
    assert not pending, "some jobs never ran"
