"""Read-only views: the queue, one job, history, GPUs, the fair-share tree, logs."""

from __future__ import annotations

import math
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from mlrp import tables
from mlrp.errors import NotFound, PermissionDenied
from mlrp.hardware import nvml
from mlrp.models.jobs import Job
from mlrp.models.reasons import EXPLANATIONS
from mlrp.models.states import JobState
from mlrp.scheduler.fairshare import share_tree
from mlrp.services import runtime
from mlrp.services.context import Platform
from mlrp.services.identity import Caller

MAX_LOG_CHUNK = 1 << 20
PRIVATE_SPEC_FIELDS = ("env", "script", "argv", "script_args")


def get_job(platform: Platform, job_id: int) -> Job:
    job = platform.store.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def job_detail(platform: Platform, caller: Caller, job_id: int) -> dict[str, Any]:
    """Everything about a job. Another user's environment, command and script are
    private: they are left out unless the caller owns the job or is an admin."""
    job = get_job(platform, job_id)
    data = job.model_dump(mode="json")
    data.pop("supervisor_pid", None)
    data.pop("supervisor_started", None)
    data["display_id"] = job.display_id
    data["gpu_count"] = job.spec.gpus
    data["reason_text"] = EXPLANATIONS[job.reason]
    weights = platform.policy.weights.model_dump()
    data["priority_weighted"] = {
        name: round(value * weights.get(name, 0), 3) for name, value in job.priority_factors.items()
    }
    out, err = runtime.log_paths(platform, job)
    data["stdout_path"], data["stderr_path"] = str(out), str(err)
    if not caller.may_act_on(job):
        for name in PRIVATE_SPEC_FIELDS:
            data["spec"].pop(name, None)
    return data


def queue_json(
    platform: Platform,
    *,
    states: list[JobState] | None = None,
    user: str | None = None,
    account: str | None = None,
    name: str | None = None,
    ended_since: float | None = None,
) -> str:
    """The queue (active jobs, by priority) or, with `ended_since`, the history (by id),
    as a JSON array of rows."""
    states = states or ([] if ended_since is not None else [JobState.PENDING, JobState.RUNNING])
    return platform.store.queue_json(
        states=states,
        user=user,
        account=account,
        name=name,
        ended_since=ended_since,
        by_priority=ended_since is None,
    )


def queue_table(
    platform: Platform,
    *,
    states: list[JobState] | None = None,
    user: str | None = None,
    account: str | None = None,
    name: str | None = None,
    start: bool = False,
    tz: str | None = None,
) -> str:
    """The text `mlrp queue` prints (with `start`, `mlrp queue --start`), rendered here
    so that the CLI decodes and formats nothing, from only the columns it shows.
    `tz`: the caller's TZ ("" when it has none), so that times are in its local zone
    even when the daemon's differs."""
    rows = platform.store.queue_rows(
        states=states or [JobState.PENDING, JobState.RUNNING],
        user=user,
        account=account,
        name=name,
    )
    text = tables.queue_table(rows, platform.clock(), start=start, localtime=local_time(tz))
    return text + "\n"


def local_time(tz: str | None) -> Callable[[float], time.struct_time]:
    """`time.localtime` in the zone a caller's TZ names (its /etc/localtime when it has
    none); the daemon's own local time when that is the same, or cannot be told."""
    if tz is None or tz == os.environ.get("TZ", ""):
        return time.localtime
    from zoneinfo import ZoneInfo

    try:
        if tz:
            zone = ZoneInfo(tz.removeprefix(":"))
        else:
            with open("/etc/localtime", "rb") as f:
                zone = ZoneInfo.from_file(f)
    except (ValueError, OSError, KeyError):  # a POSIX rule, a bad name: the daemon's
        return time.localtime
    return lambda epoch: datetime.fromtimestamp(epoch, zone).timetuple()


def gpus(platform: Platform) -> list[dict[str, Any]]:
    """Each GPU, the job holding it, and (with real GPUs) what NVML sees on it now —
    including processes that mlrp did not start."""
    running = platform.store.find(states=[JobState.RUNNING])
    holder = {gpu: job for job in running for gpu in job.gpus}
    samples = (
        {}
        if platform.inventory.source != "nvml"
        else nvml.sample([g.index for g in platform.inventory.gpus])
    )
    rows = []
    for gpu in platform.inventory.gpus:
        job = holder.get(gpu.index)
        sample = samples.get(gpu.index)
        rows.append(
            {
                **gpu.model_dump(mode="json"),
                "node": platform.inventory.hostname,
                "state": "allocated" if job else "idle",
                "job_id": job.id if job else None,
                "job_user": job.user if job else None,
                "utilization": sample.utilization if sample else None,
                "memory_used_mb": sample.memory_used_mb if sample else None,
                "pids": list(sample.pids) if sample else [],
            }
        )
    return rows


def nodes(platform: Platform) -> list[dict[str, Any]]:
    inventory = platform.inventory
    allocated = sum(len(j.gpus) for j in platform.store.find(states=[JobState.RUNNING]))
    total = len(inventory.gpus)
    state = "idle" if allocated == 0 else "allocated" if allocated == total else "mixed"
    return [
        {
            "name": inventory.hostname,
            "state": state,
            "gpus": total,
            "gpus_allocated": allocated,
            "gpu_models": sorted({g.model for g in inventory.gpus}),
            "cpus": inventory.cpus,
            "memory_mb": inventory.memory_mb,
            "source": inventory.source,
            "links": [[k.value for k in row] for row in inventory.links],
            "partitions": [p.name for p in platform.policy.partitions],
        }
    ]


def shares(platform: Platform) -> list[dict[str, Any]]:
    """The share report, JSON-safe: a non-finite float becomes None (`level_fs`: inf,
    no usage at its level; `fairshare`: NaN, an account row under Fair Tree)."""
    rows = share_tree(platform.policy, platform.store.usage())
    return [{key: _finite(value) for key, value in asdict(row).items()} for row in rows]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_log(
    platform: Platform, caller: Caller, job_id: int, *, stream: str, offset: int
) -> tuple[bytes, int]:
    """Bytes of the job's stdout or stderr from `offset` (at most 1 MiB), and the next
    offset. Only the owner or an admin may read a job's logs."""
    job = get_job(platform, job_id)
    if not caller.may_act_on(job):
        raise PermissionDenied(f"the logs of job {job.display_id} belong to {job.user}")
    out, err = runtime.log_paths(platform, job)
    path = err if stream == "err" else out
    return read_chunk(path, owner_uid=job.uid if platform.multi_user else None, offset=offset)


def read_chunk(
    path: str | os.PathLike[str], *, owner_uid: int | None, offset: int
) -> tuple[bytes, int]:
    """At most 1 MiB of the regular file `path` from `offset`, and the next offset;
    nothing when it does not exist yet. With `owner_uid`, a file owned by anyone else is
    refused (a job must not point the daemon at a file its user may not read)."""
    try:
        # O_NONBLOCK: a FIFO put in the log's place must not block the daemon.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return b"", offset
    except OSError as e:
        raise PermissionDenied(f"cannot read {path}: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionDenied(f"{path} is not a regular file; not showing it")
        if owner_uid is not None and st.st_uid != owner_uid:
            raise PermissionDenied(f"{path} is not owned by the job's user; not showing it")
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, MAX_LOG_CHUNK)
    finally:
        os.close(fd)
    return data, offset + len(data)
