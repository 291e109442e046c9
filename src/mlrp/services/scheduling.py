"""One scheduling pass: load -> decide -> apply.

Loads the active jobs (lean rows, no spec parsing) into a scheduler snapshot, calls the
pure `decide`, starts the chosen jobs and records every pending job's reason, priority
and expected start — writing only what changed since the last pass.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from mlrp.hardware.inventory import nvlink_groups
from mlrp.models.reasons import Reason
from mlrp.parsing.dependency import Dependencies, parse_dependency
from mlrp.scheduler import Decisions, DepRef, GpuSlot, QueuedJob, RunningJob, Snapshot, decide
from mlrp.scheduler.core import PendingView
from mlrp.scheduler.decisions import FACTOR_NAMES
from mlrp.services import runtime
from mlrp.services.context import Platform

# What is shown of a pending job: (reason, priority, factors, expected start), rounded so
# that slow drifts (age) do not rewrite every row on every pass.
Shown = tuple[Reason, float, tuple[float, ...], float | None]


@dataclass
class PassCache:
    """What one pass leaves for the next: the values last written for each pending job
    (so a pass writes only changes) and the snapshot entry built from each row (so an
    unchanged row is not turned into a QueuedJob again)."""

    shown: dict[int, Shown] = field(default_factory=dict)
    queued: dict[int, tuple[tuple[object, ...], QueuedJob]] = field(default_factory=dict)

    def changes(self, pending: PendingView) -> list[tuple[int, Shown]]:
        changed = []
        for job_id in pending:
            reason, total, factors, expected = pending.summary(job_id)
            shown = (reason, round(total, 1), tuple(round(f, 4) for f in factors), expected)
            if self.shown.get(job_id) != shown:
                self.shown[job_id] = shown
                changed.append((job_id, shown))
        for gone in self.shown.keys() - pending.keys():
            del self.shown[gone]
        return changed

    def queued_job(self, row: sqlite3.Row) -> QueuedJob:
        key = tuple(row)
        cached = self.queued.get(row["id"])
        if cached is None or cached[0] != key:
            cached = (key, _queued(row))
            self.queued[row["id"]] = cached
        return cached[1]

    def forget_except(self, ids: set[int]) -> None:
        for gone in self.queued.keys() - ids:
            del self.queued[gone]


def run_pass(platform: Platform, cache: PassCache | None = None) -> Decisions:
    cache = cache if cache is not None else PassCache()
    rows = platform.store.scheduling_rows()
    decisions = decide(build_snapshot(platform, rows, cache))
    for start in decisions.starts:
        job = platform.store.get(start.job_id)
        if job is not None:
            runtime.start(platform, job, start.gpus, start.priority)
    for preemption in decisions.preemptions:
        for victim in preemption.victims:
            runtime.preempt(platform, victim, preemption.job_id, preemption.cause_for(victim))
    assert isinstance(decisions.pending, PendingView)
    platform.store.save_pending_info(
        (job_id, reason, total, dict(zip(FACTOR_NAMES, factors, strict=True)), expected)
        for job_id, (reason, total, factors, expected) in cache.changes(decisions.pending)
    )
    return decisions


def build_snapshot(platform: Platform, rows: Iterable[sqlite3.Row], cache: PassCache) -> Snapshot:
    queued: list[QueuedJob] = []
    running: list[RunningJob] = []
    for row in rows:
        if row["state"] == "RUNNING":
            running.append(_running(row))
        else:
            queued.append(cache.queued_job(row))
    cache.forget_except({q.id for q in queued})
    referenced = {(d.job_id, d.array_task) for q in queued for d in q.dependencies}
    return Snapshot(
        now=platform.clock(),
        policy=platform.policy,
        gpus=_gpu_slots(platform, running),
        pending=tuple(queued),
        running=tuple(running),
        usage=platform.store.usage(),
        dependency_states=platform.store.states_of(referenced),
        link_groups=tuple(tuple(g) for g in nvlink_groups(platform.inventory.links)),
    )


def _gpu_slots(platform: Platform, running: Iterable[RunningJob]) -> tuple[GpuSlot, ...]:
    holder = {gpu: job.id for job in running for gpu in job.gpus}
    return tuple(
        GpuSlot(index=g.index, model=g.model.lower(), job_id=holder.get(g.index))
        for g in platform.inventory.gpus
    )


@lru_cache(maxsize=4096)
def _dependencies(text: str) -> Dependencies:
    return parse_dependency(text)


def _queued(row: sqlite3.Row) -> QueuedJob:
    deps = _dependencies(row["dependency"]) if row["dependency"] else None
    return QueuedJob(
        id=row["id"],
        user=row["user"],
        account=row["account"],
        partition=row["partition"],
        qos=row["qos"],
        gpus=row["gpu_count"],
        gpu_type=row["gpu_type"],
        time_limit=row["time_limit"],
        submit_time=row["submit_time"],
        begin_time=row["begin_time"],
        nice=row["nice"],
        held=bool(row["held"]),
        name=row["name"],
        array_job_id=row["array_job_id"],
        array_throttle=row["array_throttle"],
        dependencies=tuple(
            DepRef(d.kind, d.job_id, d.array_task) for d in (deps.items if deps else ())
        ),
        dependency_any=bool(deps and deps.any_of),
        singleton=bool(deps and deps.singleton),
        yield_to=row["preempted_by"],
    )


def _running(row: sqlite3.Row) -> RunningJob:
    return RunningJob(
        id=row["id"],
        user=row["user"],
        account=row["account"],
        partition=row["partition"],
        qos=row["qos"],
        gpus=tuple(json.loads(row["gpus"])),
        start_time=row["start_time"] or 0.0,
        time_limit=row["time_limit"],
        name=row["name"],
        array_job_id=row["array_job_id"],
        preempting=row["preempted_by"] is not None,
        preempted_for=row["preempted_by"],
        gpu_type=row["gpu_type"].lower() if row["gpu_type"] else None,
    )
