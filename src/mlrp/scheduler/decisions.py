"""What one scheduling pass decides: the jobs to start and why the others wait."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlrp.models.reasons import Reason

FACTOR_NAMES = ("age", "fairshare", "job_size", "qos", "partition")


@dataclass(frozen=True, slots=True)
class PriorityBreakdown:
    """`total` = sum(weighted) - nice; `factors` are normalized to 0..1."""

    total: float
    factors: dict[str, float]
    weighted: dict[str, float]
    nice: int


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    gpus: tuple[int, ...]
    priority: PriorityBreakdown | None = None  # what the job had when it was chosen


@dataclass(frozen=True, slots=True)
class PendingInfo:
    reason: Reason
    priority: PriorityBreakdown
    expected_start: float | None  # the reservation time, for jobs holding one
    position: int  # 1-based rank among all pending jobs, by priority


@dataclass(frozen=True, slots=True)
class Preemption:
    """`victims` (running job ids) are to be stopped so that `job_id` can start.
    `gpus`: where the job fits once they are gone (the pass counted it as started
    there), for a fair-share preemption; empty for a QOS one, whose job waits for its
    victims and is placed by a later pass."""

    job_id: int
    victims: tuple[int, ...]
    gpus: tuple[int, ...] = ()
    # victims stopped only to restart elsewhere, so that the job has a whole node
    # (scheduler/relocation.py); their accounts keep their share
    moved: tuple[int, ...] = ()

    @property
    def cause(self) -> str:
        """Why, in words: "fair share" (the job's account is below its share, the
        victims' accounts above theirs) or "QOS" (the job's QOS may preempt theirs)."""
        return "fair share" if self.gpus else "QOS"

    def cause_for(self, victim: int) -> str:
        """Why `victim` is stopped, in words (a moved job: to make room on its node)."""
        return "fair share: moved to make room on its node" if victim in self.moved else self.cause


@dataclass(frozen=True, slots=True)
class Decisions:
    starts: tuple[Start, ...]
    pending: Mapping[int, PendingInfo]
    preemptions: tuple[Preemption, ...] = ()
