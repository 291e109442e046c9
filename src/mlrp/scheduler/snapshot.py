"""What one scheduling pass sees: plain frozen values, built by the caller.

Nothing here reads a clock, a file or a database: `Snapshot.now` is the time of the
pass, and every other input is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlrp.models.policy import Policy
from mlrp.models.states import JobState

DEPENDENCY_KINDS = frozenset({"after", "afterok", "afternotok", "afterany"})


@dataclass(frozen=True, slots=True)
class GpuSlot:
    """One GPU; `model` lower-case ("a100", "h200", "simulated"); `node` names the host
    it sits in (one server: every slot has the same node)."""

    index: int
    model: str
    job_id: int | None = None
    node: str = ""


@dataclass(frozen=True, slots=True)
class Switch:
    """One switch of a tree topology, like Slurm's topology.conf: a leaf switch lists
    `nodes`, an upper one lists child `switches` by name."""

    name: str
    nodes: tuple[str, ...] = ()
    switches: tuple[str, ...] = ()


DepKey = tuple[int, int | None]  # (job id, array task or None): what a dependency names


@dataclass(frozen=True, slots=True)
class DepRef:
    """One `kind:job_id[_array_task]` item of a job's --dependency."""

    kind: str
    job_id: int
    array_task: int | None = None


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A pending job (or array task) as the scheduler needs it."""

    id: int
    user: str
    account: str
    partition: str
    qos: str
    gpus: int
    gpu_type: str | None
    time_limit: int  # seconds, already resolved from partition defaults
    submit_time: float
    begin_time: float | None
    nice: int
    held: bool
    name: str
    array_job_id: int | None
    array_throttle: int | None
    dependencies: tuple[DepRef, ...] = ()
    dependency_any: bool = False  # "?"-separated: any one satisfied dependency suffices
    singleton: bool = False
    # preempted for that job and requeued: waits while that job is still pending (and
    # not itself waiting for its own preemptor), so the GPUs it gave up go to that job
    yield_to: int | None = None
    # Derived: what the scheduler groups "plain" jobs by (see core.py); None for a job
    # that is not plain. Computed once here, since a job is built once and seen by
    # many passes.
    class_key: tuple[object, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = not (
            self.held
            or self.dependencies
            or self.singleton
            or self.begin_time is not None
            or self.yield_to is not None
        )
        key = (
            (
                self.user,
                self.account,
                self.partition,
                self.qos,
                self.gpus,
                self.gpu_type.lower() if self.gpu_type else None,
                self.nice,
                self.array_job_id,
                self.array_throttle,
            )
            if plain
            else None
        )
        object.__setattr__(self, "class_key", key)


@dataclass(frozen=True, slots=True)
class RunningJob:
    id: int
    user: str
    account: str
    partition: str
    qos: str
    gpus: tuple[int, ...]
    start_time: float
    time_limit: int
    name: str
    array_job_id: int | None
    preempting: bool = False  # already told to stop for a preemptor: frees up at start + limit
    preempted_for: int | None = None  # that preemptor, when known
    gpu_type: str | None = None  # the GPU model it asked for (lower-case); None: any


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: float
    policy: Policy
    gpus: tuple[GpuSlot, ...]
    pending: tuple[QueuedJob, ...]
    running: tuple[RunningJob, ...]
    # (account, user) -> decayed GPU-seconds
    usage: Mapping[tuple[str, str], float] = field(default_factory=dict)
    # (job id, None) -> the states of that job, or of every task when it is an array;
    # (array job id, task) -> the state of that one task
    dependency_states: Mapping[DepKey, tuple[JobState, ...]] = field(default_factory=dict)
    # sets of GPU indices joined by NVLink, for placement preference
    link_groups: tuple[tuple[int, ...], ...] = ()
    # the tree of switches between nodes; empty: every node under one switch
    switches: tuple[Switch, ...] = ()
