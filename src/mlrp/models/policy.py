"""Scheduling policy as plain values: accounts, partitions, QOS, limits, weights.

Built from the config file by `mlrp.config`; read by the pure scheduler.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DAY = 86400

FairshareAlgorithm = Literal["fair_tree", "classic"]
BackfillMode = Literal["easy", "conservative"]
PreemptMode = Literal["requeue", "cancel"]


class Account(BaseModel):
    """A node of the fair-share tree. `parent` is None for children of the root.
    `coordinators` may act on every job of this account and of its sub-accounts (read
    their logs, environment and script; cancel, hold, release them), as Slurm's account
    coordinators."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    shares: int = Field(default=1, ge=1)
    parent: str | None = None
    users: list[str] = Field(default_factory=list)
    coordinators: list[str] = Field(default_factory=list)
    max_gpus: int | None = Field(default=None, ge=0)  # running GPUs for the whole account
    max_gpus_per_user: int | None = Field(default=None, ge=0)


class Partition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    max_time: int = Field(default=7 * DAY, ge=1)  # seconds; a job's cap
    default_time: int = Field(default=DAY, ge=1)
    max_gpus_per_job: int | None = Field(default=None, ge=0)
    max_gpus: int | None = Field(default=None, ge=0)  # running GPUs in the partition
    priority_tier: int = Field(default=0, ge=0)


class Qos(BaseModel):
    """A quality of service. `preempt` names the QOS whose running jobs this one may
    preempt; `preempt_mode` is what happens to a job of this QOS when it is preempted
    (requeued with its id kept, or cancelled). `usage_factor` scales the fair-share
    usage its jobs are charged (0: free of charge)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    priority: int = Field(default=0, ge=0)
    max_gpus_per_user: int | None = Field(default=None, ge=0)  # running, per user
    max_gpus: int | None = Field(default=None, ge=0)  # running, all users together
    max_pending_per_user: int | None = Field(default=None, ge=0)  # queued jobs, at submit
    max_time: int | None = Field(default=None, ge=1)
    preempt: list[str] = Field(default_factory=list)
    preempt_mode: PreemptMode = "requeue"
    usage_factor: float = Field(default=1.0, ge=0)


class Weights(BaseModel):
    """Multifactor priority weights, with Slurm's meaning (PriorityWeight*)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    age: int = Field(default=1000, ge=0)
    fairshare: int = Field(default=10000, ge=0)
    job_size: int = Field(default=100, ge=0)
    qos: int = Field(default=2000, ge=0)
    partition: int = Field(default=1000, ge=0)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: list[Account] = Field(default_factory=lambda: [Account(name="default")])
    default_account: str | None = "default"
    partitions: list[Partition] = Field(
        default_factory=lambda: [
            Partition(name="batch"),
            Partition(
                name="interactive",
                max_time=8 * 3600,
                default_time=3600,
                max_gpus_per_job=2,
                priority_tier=1,
            ),
        ]
    )
    default_partition: str = "batch"
    qos: list[Qos] = Field(
        default_factory=lambda: [
            Qos(name="normal", preempt=["scavenger"]),
            Qos(name="high", priority=100, max_gpus_per_user=2, preempt=["scavenger"]),
            Qos(name="scavenger", priority=0, usage_factor=0.25),
        ]
    )
    default_qos: str = "normal"
    weights: Weights = Field(default_factory=Weights)
    # seconds, for usage decay. One day, not Slurm's seven: on the Philly trace it halves
    # the backlogged team-days short of their share (docs/scheduler-benchmarks.md).
    half_life: float = Field(default=DAY, gt=0)
    fairshare: FairshareAlgorithm = "fair_tree"
    # GPU model (lower-case) -> billing weight of one GPU-second; unlisted models: 1.0
    billing: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    age_max: float = Field(default=7 * DAY, gt=0)  # age factor saturates here
    max_gpus_per_user: int | None = Field(default=None, ge=0)
    backfill: bool = True
    backfill_mode: BackfillMode = "easy"
    # EASY: how many top blocked jobs get reservations. Four, not one: large jobs of
    # accounts below the top one are not starved by small ones backfilling around them.
    reservations: int = Field(default=4, ge=1)
    # A job of an account below its fair share may preempt jobs of accounts above theirs
    # (scheduler/fair_preemption.py); the victims are requeued or cancelled as their
    # QOS's preempt_mode says.
    fairshare_preemption: bool = True
    # When no node can be freed by fair-share victims alone, jobs of other accounts on
    # a node may be moved (requeued, restarted at once elsewhere; their accounts keep
    # their share) so that a preemptor gets a whole node (scheduler/relocation.py).
    fairshare_relocation: bool = True
    # A job that spans nodes may preempt while its account's share *without* it is below
    # what every victim account keeps, so it may end above them by less than itself;
    # otherwise its account's share *with* it must stay at or below theirs. Without this
    # an account whose waiting work is all multi-node gang jobs can stay most of a job
    # short of its share (scheduler/fair_preemption.py).
    fairshare_gang_overshoot: bool = True
    # conservative: how many blocked jobs get reservations (Slurm's bf_max_job_test)
    backfill_depth: int = Field(default=500, ge=1)
    # Users not listed in any account may submit to the default account.
    open_default_account: bool = True

    @model_validator(mode="after")
    def _default_account_exists(self) -> Policy:
        """A config that lists its own accounts but not `default_account` has no default:
        every user must then be listed in an account (as Slurm's associations)."""
        if self.default_account is not None and self.account(self.default_account) is None:
            object.__setattr__(self, "default_account", None)
        return self

    @model_validator(mode="after")
    def _preempt_names_exist(self) -> Policy:
        names = {q.name for q in self.qos}
        for qos in self.qos:
            for victim in qos.preempt:
                if victim not in names:
                    raise ValueError(f"qos {qos.name!r} preempts unknown qos {victim!r}")
                if victim == qos.name:
                    raise ValueError(f"qos {qos.name!r} cannot preempt itself")
        return self

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)

    def partition(self, name: str) -> Partition | None:
        return next((p for p in self.partitions if p.name == name), None)

    def qos_named(self, name: str) -> Qos | None:
        return next((q for q in self.qos if q.name == name), None)

    def accounts_of(self, user: str) -> list[str]:
        return [a.name for a in self.accounts if user in a.users]
