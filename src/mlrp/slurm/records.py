"""What Slurm's commands report, as typed values (no parsing, no I/O here).

Times are epoch seconds (None when Slurm has none); durations are seconds, None meaning
UNLIMITED. Slurm's own words (state, reason) are kept as Slurm writes them; mapping
them to mlrp's is mlrp.slurm.states's job.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One record of `squeue --json` or `sacct`: a job, an array task, or the pending
    rest of an array (`pending_tasks` = "3-5%2", tasks not yet given their own id)."""

    job_id: int
    name: str
    user: str
    uid: int | None
    account: str
    partition: str
    qos: str
    state: str
    reason: str
    submit_time: float | None
    array_job_id: int | None = None
    array_task_id: int | None = None
    pending_tasks: str | None = None
    array_throttle: int | None = None
    gid: int | None = None
    start_time: float | None = None  # pending: Slurm's expected start, if any
    end_time: float | None = None
    eligible_time: float | None = None
    time_limit: int | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    nodes: str | None = None
    node_count: int = 1
    tasks: int = 1
    cpus_per_task: int = 1
    mem_mb: int | None = None
    gpus_per_node: int = 0
    gpu_type: str | None = None
    gpu_indices: tuple[int, ...] = ()
    priority: float = 0.0
    nice: int = 0
    dependency: str | None = None
    requeue: bool = False
    restarts: int = 0
    workdir: str | None = None
    stdout: str | None = None  # as given (a pattern such as "out-%j.txt"), None: default
    stderr: str | None = None
    batch_host: str | None = None

    @property
    def display_id(self) -> str:
        if self.pending_tasks is not None:
            return f"{self.array_job_id}_[{self.pending_tasks}]"
        if self.array_job_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.job_id)


@dataclass(frozen=True, slots=True)
class SlurmNode:
    """One node of `sinfo --json`."""

    name: str
    state: str
    cpus: int
    cpus_allocated: int
    memory_mb: int
    gpus: int
    gpus_allocated: int
    gpu_types: tuple[str, ...]
    partitions: tuple[str, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ShareLine:
    """One line of `sshare -a -l`: an account (user None) or a user under it."""

    account: str
    user: str | None
    depth: int
    raw_shares: int | None
    norm_shares: float
    raw_usage: float
    norm_usage: float | None
    effective_usage: float
    fairshare: float | None
    level_fs: float | None
