"""Accepting jobs: validate a spec against the policy and the machine, then record it.

A request the machine can never satisfy is refused here, with a message saying why,
rather than left pending forever. Nothing is written unless the whole request is valid.
"""

from __future__ import annotations

import os
import signal as signals
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mlrp.errors import InvalidSpec, NotFound, OverLimit, PermissionDenied, Unsatisfiable
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.policy import Partition, Policy, Qos
from mlrp.models.states import JobState
from mlrp.parsing.arrays import parse_array
from mlrp.parsing.dependency import parse_dependency
from mlrp.parsing.request import spec_from_request
from mlrp.parsing.slurmtime import format_duration
from mlrp.services.context import Platform
from mlrp.services.identity import Caller, lookup_user


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one accepted spec became: row ids, and ids as users write them (`12_3`)."""

    ids: list[int]
    display_ids: list[str]


def submit(platform: Platform, caller: Caller, spec: JobSpec) -> Receipt:
    """Record one spec (one job, or one row per array task)."""
    return submit_many(platform, caller, [spec])[0]


def submit_many(
    platform: Platform,
    caller: Caller,
    specs: Sequence[JobSpec],
    *,
    env: Mapping[str, str] | None = None,
) -> list[Receipt]:
    """All-or-nothing: every spec is validated before any is recorded, in one transaction.

    `env` (already validated) is the environment of every spec that was given none of
    its own (`env` not among its fields set): a batch sends it once, not once per spec.
    A spec equal to the one before it is the same request again: its jobs are planned
    once and share one JobSpec, which the store then serializes once."""
    shared = None if env is None else dict(env)
    plans: list[tuple[list[Job], bool]] = []
    previous: JobSpec | None = None
    for spec in specs:
        if previous is not None and _same(spec, previous):
            plans.append(plans[-1])
            continue
        previous = spec
        if shared is not None and "env" not in spec.model_fields_set:
            spec = spec.model_copy(update={"env": shared})
        plans.append(plan_jobs(platform, caller, spec))
    _check_pending_limits(platform, [job for jobs, _ in plans for job in jobs])
    groups = platform.store.insert_groups(plans)
    platform.wake()
    return [_receipt(jobs, ids) for (jobs, _), ids in zip(plans, groups, strict=True)]


def _check_pending_limits(platform: Platform, new: Sequence[Job]) -> None:
    """A QOS's `max_pending_per_user` (Slurm's MaxSubmitJobsPerUser, counting jobs
    waiting): refused at submit, naming the limit, when the new jobs would pass it."""
    limits = {q.name: q.max_pending_per_user for q in platform.policy.qos}
    adding: dict[tuple[str, str], int] = {}
    for job in new:
        if limits.get(job.qos) is not None:
            adding[(job.user, job.qos)] = adding.get((job.user, job.qos), 0) + 1
    if not adding:
        return
    pending = platform.store.pending_counts(user for user, _ in adding)
    for (user, qos), count in adding.items():
        limit = limits[qos]
        assert limit is not None
        have = pending.get((user, qos), 0)
        if have + count > limit:
            raise OverLimit(
                f"QOS {qos!r} allows {limit} pending jobs per user; {user} has {have} "
                f"and this submission adds {count}"
            )


def _same(spec: JobSpec, other: JobSpec) -> bool:
    """Equal, and both or neither given an `env` (one without gets the batch's)."""
    if spec is other:
        return True
    given = "env" in spec.model_fields_set
    return given == ("env" in other.model_fields_set) and spec == other


def _receipt(jobs: Sequence[Job], ids: list[int]) -> Receipt:
    if len(jobs) == 1 and jobs[0].array_task_id is None:
        return Receipt(ids, [str(ids[0])])
    return Receipt(ids, [f"{ids[0]}_{job.array_task_id}" for job in jobs])


def plan_jobs(platform: Platform, caller: Caller, spec: JobSpec) -> tuple[list[Job], bool]:
    policy = platform.policy
    _check_one_node(spec)
    user, uid, gid = _owner(platform, caller, spec)
    account = _account(policy, user, spec.account)
    partition = _partition(policy, spec.partition)
    qos = _qos(policy, spec.qos)
    time_limit = _time_limit(spec, partition, qos)
    _check_gpus(platform, spec, partition, qos, account)
    _check_signal(spec.signal)
    _check_dependencies(platform, spec.dependency)
    if spec.nice < 0 and not caller.is_admin:
        raise PermissionDenied("only an admin may set a negative --nice")
    base = Job(
        id=0,
        name=spec.display_name(),
        user=user,
        uid=uid,
        gid=gid,
        account=account,
        partition=partition.name,
        qos=qos.name,
        state=JobState.PENDING,
        held=spec.hold,
        spec=spec,
        submit_time=platform.clock(),
        begin_time=spec.begin,
        time_limit=time_limit,
    )
    if spec.array is None:
        return [base], False
    array = parse_array(spec.array)
    tasks = [
        base.model_copy(update={"array_task_id": i, "array_throttle": array.throttle})
        for i in array.indices
    ]
    return tasks, True


def _check_one_node(spec: JobSpec) -> None:
    """This backend runs a job as one process tree on this machine."""
    if spec.nodes > 1:
        raise Unsatisfiable(
            f"the job asks for {spec.nodes} nodes; multi-node jobs need the Slurm backend "
            "(this daemon runs jobs on one machine)"
        )
    if spec.ntasks_per_node > 1:
        raise Unsatisfiable(
            f"the job asks for {spec.ntasks_per_node} tasks; multi-task jobs need the Slurm "
            "backend (this daemon runs one task: use --cpus-per-task for threads)"
        )


def _owner(platform: Platform, caller: Caller, spec: JobSpec) -> tuple[str, int, int]:
    """Who the job belongs to and which uid/gid it runs as."""
    if spec.as_user is None:
        if platform.multi_user:
            return caller.user, caller.uid, caller.gid
        return caller.user, os.geteuid(), os.getegid()
    if not platform.multi_user:
        # Personal mode: every job runs as the daemon's user; the name is a fair-share label.
        return spec.as_user, os.geteuid(), os.getegid()
    if not caller.is_admin:
        raise PermissionDenied("only an admin may submit a job as another user (--as-user)")
    entry = lookup_user(spec.as_user)
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def _account(policy: Policy, user: str, requested: str | None) -> str:
    mine = policy.accounts_of(user)
    if requested is None:
        if mine:
            return mine[0]
        if policy.open_default_account and policy.default_account is not None:
            return policy.default_account
        known = ", ".join(a.name for a in policy.accounts)
        raise Unsatisfiable(
            f"user {user} belongs to no account (accounts: {known}); ask an admin to add "
            f"them to one in the config"
        )
    account = policy.account(requested)
    if account is None:
        known = ", ".join(a.name for a in policy.accounts)
        raise Unsatisfiable(f"unknown account {requested!r}; accounts: {known}")
    open_default = policy.open_default_account and requested == policy.default_account
    if account.users and user not in account.users and not open_default:
        allowed = ", ".join(mine) or "none"
        raise Unsatisfiable(
            f"user {user} may not use account {requested!r} (their accounts: {allowed})"
        )
    return account.name


def _partition(policy: Policy, requested: str | None) -> Partition:
    partition = policy.partition(requested or policy.default_partition)
    if partition is None:
        known = ", ".join(p.name for p in policy.partitions)
        raise Unsatisfiable(f"unknown partition {requested!r}; partitions: {known}")
    return partition


def _qos(policy: Policy, requested: str | None) -> Qos:
    qos = policy.qos_named(requested or policy.default_qos)
    if qos is None:
        known = ", ".join(q.name for q in policy.qos)
        raise Unsatisfiable(f"unknown QOS {requested!r}; QOS: {known}")
    return qos


def _time_limit(spec: JobSpec, partition: Partition, qos: Qos) -> int:
    cap = min(partition.max_time, qos.max_time or partition.max_time)
    if spec.time_limit is None:
        return min(partition.default_time, cap)
    if spec.time_limit > cap:
        raise Unsatisfiable(
            f"--time {format_duration(spec.time_limit)} exceeds the limit of "
            f"{format_duration(cap)} for partition {partition.name} / QOS {qos.name}"
        )
    return spec.time_limit


def _check_gpus(
    platform: Platform, spec: JobSpec, partition: Partition, qos: Qos, account: str
) -> None:
    models = [g.model.lower() for g in platform.inventory.gpus]
    if spec.gpu_type is not None:
        wanted = spec.gpu_type.lower()
        models = [m for m in models if wanted in m]
        if not models:
            have = ", ".join(sorted({g.model for g in platform.inventory.gpus})) or "none"
            raise Unsatisfiable(f"no GPU of model {spec.gpu_type!r} here (GPUs: {have})")
    if spec.gpus > len(models):
        raise Unsatisfiable(f"the job asks for {spec.gpus} GPUs but this machine has {len(models)}")
    caps = {
        f"partition {partition.name} allows": partition.max_gpus_per_job,
        f"QOS {qos.name} allows a user": qos.max_gpus_per_user,
        "a user may hold": platform.policy.max_gpus_per_user,
        f"account {account} may hold": _account_cap(platform.policy, account),
    }
    for what, cap in caps.items():
        if cap is not None and spec.gpus > cap:
            raise Unsatisfiable(f"the job asks for {spec.gpus} GPUs but {what} at most {cap}")


def _account_cap(policy: Policy, name: str) -> int | None:
    account = policy.account(name)
    if account is None:
        return None
    caps = [c for c in (account.max_gpus, account.max_gpus_per_user) if c is not None]
    return min(caps) if caps else None


def _check_signal(name: str) -> None:
    if not hasattr(signals, "SIG" + name.upper().removeprefix("SIG")):
        raise InvalidSpec(f"unknown signal {name!r} in --signal")


def _check_dependencies(platform: Platform, text: str | None) -> None:
    if text is None:
        return
    deps = parse_dependency(text)
    wanted = {(d.job_id, d.array_task) for d in deps.items}
    known = platform.store.states_of(wanted)
    missing = [
        f"{j}_{t}" if t is not None else str(j) for j, t in sorted(wanted - known.keys(), key=str)
    ]
    if missing:
        raise NotFound(f"--dependency names unknown job(s): {', '.join(missing)}")


# ------------------------------------------------------------ `mlrp submit` as typed


def submit_request(platform: Platform, caller: Caller, **request: Any) -> Receipt:
    """`mlrp submit` / `mlrp run` as the user typed them (see request_fields), parsed
    here, then submitted as `submit`."""
    return submit(platform, caller, job_spec(request_fields(platform.clock(), **request)))


def request_fields(
    now: float,
    *,
    command: str,
    options: list[str],
    rest: list[str],
    environ: Mapping[str, str],
    workdir: str,
    file_name: str | None = None,
    file_text: str | None = None,
    as_user: str | None = None,
    after_double_dash: bool = False,
) -> dict[str, object]:
    """The JobSpec fields of `mlrp submit` / `mlrp run` as typed (see
    mlrp.parsing.request.spec_from_request). Nothing here opens a path the caller
    names: a script comes as its text.

    Wall-clock times (--begin 16:00) are read in the caller's zone: its TZ, or the
    machine's /etc/localtime when it has none, as the CLI would have read them."""
    with _time_zone(environ.get("TZ")):
        return spec_from_request(
            command,
            options,
            rest,
            environ=environ,
            workdir=workdir,
            now=now,
            file_name=file_name,
            file_text=file_text,
            as_user=as_user,
            after_double_dash=after_double_dash,
        )


def job_spec(fields: Mapping[str, object]) -> JobSpec:
    """A `JobSpec` of parsed fields; a field the model refuses is an `InvalidSpec`
    worded as the API words a refused request body (`name: String should have...`)."""
    try:
        return JobSpec.model_validate(fields)
    except ValidationError as e:
        problems = []
        for item in e.errors():
            where = ".".join(str(p) for p in item["loc"]) or "body"
            problems.append(f"{where}: {item['msg']}")
        raise InvalidSpec("; ".join(problems)) from None


ZONEINFO_DIR = "/usr/share/zoneinfo/"


@contextmanager
def _time_zone(tz: str | None) -> Iterator[None]:
    """The process's local time zone set to a caller's TZ (None: unset) for the block.

    The daemon serves requests on one thread and nothing in the block awaits, so no
    other work sees the change. A TZ that names a file outside the system's zoneinfo
    directory is not followed (it could be a FIFO, and the daemon would block opening
    it): the daemon's own zone is kept."""
    own = os.environ.get("TZ")
    if tz == own:
        yield
        return
    if tz is not None:
        name = tz.removeprefix(":").removeprefix(ZONEINFO_DIR)
        if name.startswith("/") or ".." in name.split("/"):
            yield
            return
        tz = (":" if tz.startswith(":") else "") + name
    _set_tz(tz)
    try:
        yield
    finally:
        _set_tz(own)


def _set_tz(tz: str | None) -> None:
    if tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = tz
    time.tzset()
