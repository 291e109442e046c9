"""What each page shows, built from what the backend answers: pure functions of its rows
(dicts in the API's JSON shapes), so that pages are tested without a browser and both
backends render alike."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrp.services.identity import Caller
from mlrp.web.templating import duration, relative, when

Row = Mapping[str, Any]
ACTIVE = ("PENDING", "RUNNING")


def may_act(caller: Caller, row: Row) -> bool:
    """Whether the page shows `caller` the private parts of the job of `row` and its
    cancel, hold and release buttons: `Caller.may_act_on`'s rule (owner, coordinator of
    its account, admin), which the services apply again to every request."""
    return caller.is_admin or row["user"] == caller.user or row["account"] in caller.coordinates


@dataclass(frozen=True, slots=True)
class GpuRow:
    index: int
    node: str
    model: str
    memory_mb: int | None
    busy: bool
    job: Row | None  # the listing row of the job holding it
    utilization: float | None
    memory_used_mb: float | None


def gpu_rows(gpus: Iterable[Row], jobs: Mapping[int, Row]) -> list[GpuRow]:
    """Every GPU with the job (and so the user) holding it, and its live sample."""
    rows = []
    for gpu in gpus:
        job_id = gpu.get("job_id")
        rows.append(
            GpuRow(
                index=int(gpu["index"]),
                node=str(gpu.get("node") or ""),
                model=str(gpu.get("model") or ""),
                memory_mb=gpu.get("memory_mb"),
                busy=job_id is not None,
                job=jobs.get(int(job_id)) if job_id is not None else None,
                utilization=gpu.get("utilization"),
                memory_used_mb=gpu.get("memory_used_mb"),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class QueueView:
    running: list[Row]
    pending: list[Row]  # the first `shown` of them, in priority order
    pending_total: int

    @property
    def pending_hidden(self) -> int:
        return self.pending_total - len(self.pending)


def queue_view(rows: Sequence[Row], *, shown: int) -> QueueView:
    running = [row for row in rows if row["state"] == "RUNNING"]
    pending = [row for row in rows if row["state"] == "PENDING"]
    return QueueView(running, pending[:shown], len(pending))


@dataclass(frozen=True, slots=True)
class Moment:
    label: str
    epoch: float | None
    note: str = ""


def timeline(job: Row, now: float) -> list[Moment]:
    """Submit, start and end, as far as the job got; a pending job's expected start."""
    moments = [Moment("Submitted", job.get("submit_time"))]
    begin = job.get("begin_time")
    if begin is not None and begin > (job.get("submit_time") or 0):
        moments.append(Moment("Eligible from", begin, "--begin"))
    if job["state"] == "PENDING":
        expected = job.get("expected_start")
        note = relative(expected, now) if expected is not None else "not estimated yet"
        moments.append(Moment("Expected start", expected, note))
        return moments
    moments.append(Moment("Started", job.get("start_time")))
    if job["state"] != "RUNNING":
        moments.append(Moment("Ended", job.get("end_time"), ending(job)))
    return moments


def ending(job: Row) -> str:
    """How a job ended, in words: its state and exit code or signal."""
    parts = [str(job["state"])]
    if job.get("exit_signal"):
        parts.append(f"signal {job['exit_signal']}")
    elif job.get("exit_code") is not None:
        parts.append(f"exit code {job['exit_code']}")
    return ", ".join(parts)


def spec_rows(job: Row) -> list[tuple[str, str]]:
    """The job's specification as (label, value) lines; private fields that the
    backend left out (another user's command, script, environment) are not there."""
    spec: Mapping[str, Any] = job.get("spec") or {}
    rows: list[tuple[str, str]] = []
    if spec.get("argv"):
        rows.append(("Command", shlex.join(spec["argv"])))
    rows.append(("GPUs", _gpus(job, spec)))
    for label, key in (
        ("Time limit", "time_limit"),
        ("Partition", "partition"),
        ("Account", "account"),
        ("QOS", "qos"),
    ):
        rows.append((label, _cell(key, job.get(key))))
    for label, key in (
        ("CPUs per task", "cpus_per_task"),
        ("Memory (MB)", "mem_mb"),
        ("Working directory", "workdir"),
        ("Array", "array"),
        ("Dependency", "dependency"),
        ("Nice", "nice"),
    ):
        if spec.get(key) not in (None, "", 0):
            rows.append((label, str(spec[key])))
    if spec.get("requeue"):
        rows.append(("Requeue", "yes"))
    rows.append(("Standard output", str(job.get("stdout_path") or "")))
    rows.append(("Standard error", str(job.get("stderr_path") or "")))
    return rows


def _gpus(job: Row, spec: Mapping[str, Any]) -> str:
    count = job.get("gpu_count", spec.get("gpus", 0))
    text = f"{count} x {spec['gpu_type']}" if spec.get("gpu_type") else str(count)
    held = job.get("gpus") or []
    return f"{text} (holding {', '.join(str(g) for g in held)})" if held else text


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key == "time_limit":
        return duration(float(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class ShareLine:
    depth: int
    account: str
    user: str | None
    raw_shares: int | None
    norm_shares: float | None
    usage_hours: float | None  # decayed, billing-weighted GPU-hours
    effective_usage: float | None
    fairshare: float | None
    level_fs: float | None


def share_lines(rows: Iterable[Row]) -> list[ShareLine]:
    """The share tree's rows, in the tree's order; usage in hours."""
    return [
        ShareLine(
            depth=int(row.get("depth") or 0),
            account=str(row["account"]),
            user=row.get("user"),
            raw_shares=row.get("raw_shares"),
            norm_shares=row.get("norm_shares"),
            usage_hours=None if row.get("raw_usage") is None else row["raw_usage"] / 3600,
            effective_usage=row.get("effective_usage"),
            fairshare=row.get("fairshare"),
            level_fs=row.get("level_fs"),
        )
        for row in rows
    ]


def why_waiting(explained: Row, now: float) -> list[str]:
    """`mlrp explain`'s answer as sentences: why the job waits, where it stands, when
    it should start, what puts the jobs just ahead of it there."""
    job = f"Job {explained['display_id']}"
    if explained["state"] != "PENDING":
        return [f"{job} is not waiting: it is {explained['state']}."]
    sentences = [f"{job} is waiting: {explained['reason_text']}."]
    if explained.get("position") is not None:
        sentences.append(
            f"It is number {explained['position']} of {explained['pending']} jobs waiting."
        )
    expected = explained.get("expected_start")
    if expected is not None:
        sentences.append(
            f"It is expected to start around {when(expected)} ({relative(expected, now)})."
        )
    else:
        sentences.append("No start time can be estimated for it yet.")
    sentences.extend(_ahead(explained.get("ahead") or []))
    lead = _largest_factor(explained.get("factors") or {})
    if lead:
        sentences.append(
            f"Its priority is {explained['priority']:.1f}; most of it comes from {lead}."
        )
    return sentences


def _ahead(ahead: Sequence[Row], shown: int = 3) -> list[str]:
    sentences = []
    for other in ahead[:shown]:
        why = other.get("lead_text") or "it was submitted earlier with the same priority"
        sentences.append(
            f"Job {other['display_id']} ({other['user']}, account {other['account']}) "
            f"is ahead of it because {why}."
        )
    return sentences


def _largest_factor(factors: Mapping[str, Mapping[str, float]]) -> str | None:
    weighted = {name: f.get("weighted", 0.0) for name, f in factors.items()}
    if not weighted or max(weighted.values()) <= 0:
        return None
    name = max(weighted, key=lambda n: weighted[n])
    return f"its {name.replace('_', ' ')} factor"
