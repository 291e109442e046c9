"""Job specifications as submitted, and jobs as the platform records them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlrp.models.reasons import Reason
from mlrp.models.states import JobState

NonNegativeInt = Annotated[int, Field(ge=0)]


class JobSpec(BaseModel):
    """What a user asks for, already normalized (times in seconds, begin as epoch).

    Exactly one of `argv` (a command) or `script` (a batch script's text) is set.
    `gpus` counts GPUs per node; `nodes` and `ntasks_per_node` lay a job out over
    several nodes (only the Slurm backend runs more than one of either).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    argv: list[str] | None = None
    script: str | None = None
    script_args: list[str] = Field(default_factory=list)
    gpus: NonNegativeInt = 0
    nodes: Annotated[int, Field(ge=1, le=100_000)] = 1
    ntasks_per_node: Annotated[int, Field(ge=1, le=100_000)] = 1
    gpu_type: str | None = None
    cpus_per_task: Annotated[int, Field(ge=1)] = 1
    mem_mb: Annotated[int, Field(ge=1)] | None = None
    time_limit: Annotated[int, Field(ge=1)] | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    output: str | None = None
    error: str | None = None
    workdir: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    array: str | None = None
    dependency: str | None = None
    requeue: bool = False
    signal: str = "TERM"
    signal_before: NonNegativeInt = 0
    begin: float | None = None
    nice: Annotated[int, Field(ge=-10000, le=10000)] = 0
    hold: bool = False
    slurm_env: bool = False
    as_user: str | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> JobSpec:
        if (self.argv is None) == (self.script is None):
            raise ValueError("give either a command (argv) or a batch script, not both or none")
        if self.argv is not None and not self.argv:
            raise ValueError("the command is empty")
        return self

    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.argv:
            return self.argv[0].rsplit("/", 1)[-1]
        return "script"


class Job(BaseModel):
    """One job (or one array task) as recorded in the store."""

    model_config = ConfigDict(frozen=True)

    id: int
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_throttle: int | None = None
    name: str
    user: str
    uid: int
    gid: int
    account: str
    partition: str
    qos: str
    state: JobState
    reason: Reason = Reason.NONE
    held: bool = False
    spec: JobSpec
    gpus: list[int] = Field(default_factory=list)
    submit_time: float
    begin_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    time_limit: int
    exit_code: int | None = None
    exit_signal: int | None = None
    priority: float = 0.0
    priority_factors: dict[str, float] = Field(default_factory=dict)
    expected_start: float | None = None
    restart_count: int = 0
    supervisor_pid: int | None = None
    supervisor_started: float | None = None
    preempted_by: int | None = None  # set while being stopped for that job
    preempt_cause: str | None = None  # why (Preemption.cause_for), with preempted_by
    message: str | None = None
    nodelist: str | None = None  # Slurm's node list ("n[1-2]"); None on the local backend

    @property
    def display_id(self) -> str:
        if self.array_job_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.id)

    @property
    def gpu_count(self) -> int:
        return self.spec.gpus
