"""Small builders for scheduler snapshots in tests (defaults: 8 'a100' GPUs, now=10_000,
default policy with flat weights where a test does not care)."""

from __future__ import annotations

from itertools import count
from typing import Any

from mlrp.models.policy import Account, Partition, Policy, Qos, Weights
from mlrp.scheduler import Decisions, GpuSlot, QueuedJob, RunningJob, Snapshot, decide

NOW = 10_000.0
_ids = count(1000)

# Only the age factor by default, so that queue order is submit order unless a test
# sets weights of its own.
FIFO_WEIGHTS = Weights(age=1000, fairshare=0, job_size=0, qos=0, partition=0)


def policy(**kw: Any) -> Policy:
    kw.setdefault("weights", FIFO_WEIGHTS)
    kw.setdefault("accounts", [Account(name="default")])
    kw.setdefault("partitions", [Partition(name="batch")])
    kw.setdefault("qos", [Qos(name="normal")])
    kw.setdefault("reservations", 1)  # textbook EASY unless a test asks for more
    kw.setdefault("fairshare_preemption", False)  # only where a test asks for it
    return Policy(**kw)


def job(id: int | None = None, **kw: Any) -> QueuedJob:
    fields: dict[str, Any] = dict(
        id=next(_ids) if id is None else id,
        user="alice",
        account="default",
        partition="batch",
        qos="normal",
        gpus=1,
        gpu_type=None,
        time_limit=3600,
        submit_time=0.0,
        begin_time=None,
        nice=0,
        held=False,
        name="job",
        array_job_id=None,
        array_throttle=None,
    )
    fields.update(kw)
    if fields["id"] is not None and "submit_time" not in kw:
        fields["submit_time"] = float(fields["id"])  # FIFO by id unless told
    return QueuedJob(**fields)


def running(id: int | None = None, **kw: Any) -> RunningJob:
    fields: dict[str, Any] = dict(
        id=next(_ids) if id is None else id,
        user="bob",
        account="default",
        partition="batch",
        qos="normal",
        gpus=(0,),
        start_time=NOW - 100,
        time_limit=1000,
        name="running",
        array_job_id=None,
    )
    fields.update(kw)
    fields["gpus"] = tuple(fields["gpus"])
    return RunningJob(**fields)


def gpus(
    n: int = 8, model: str = "a100", busy: dict[int, int] | None = None
) -> tuple[GpuSlot, ...]:
    busy = busy or {}
    return tuple(GpuSlot(i, model, busy.get(i)) for i in range(n))


def snapshot(
    pending: list[QueuedJob] | tuple[QueuedJob, ...] = (),
    running_jobs: list[RunningJob] | tuple[RunningJob, ...] = (),
    *,
    slots: tuple[GpuSlot, ...] | None = None,
    n_gpus: int = 8,
    pol: Policy | None = None,
    now: float = NOW,
    **kw: Any,
) -> Snapshot:
    if slots is None:
        held = {g: r.id for r in running_jobs for g in r.gpus}
        slots = gpus(n_gpus, busy=held)
    return Snapshot(
        now=now,
        policy=pol or policy(),
        gpus=slots,
        pending=tuple(pending),
        running=tuple(running_jobs),
        **kw,
    )


def run(*args: Any, **kw: Any) -> Decisions:
    return decide(snapshot(*args, **kw))


def started(decisions: Decisions) -> dict[int, tuple[int, ...]]:
    return {s.job_id: s.gpus for s in decisions.starts}


def reasons(decisions: Decisions) -> dict[int, str]:
    return {job_id: str(info.reason) for job_id, info in decisions.pending.items()}
