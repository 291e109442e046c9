"""Job states (Slurm's names) and the one table of allowed transitions.

Stdlib-only: the CLI imports it to colour and filter listings.
"""

from __future__ import annotations

from enum import StrEnum

from mlrp.errors import InvalidSpec


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    PREEMPTED = "PREEMPTED"
    NODE_FAIL = "NODE_FAIL"

    @property
    def short(self) -> str:
        """The two-letter code squeue prints in its ST column."""
        return SHORT_CODES[self]

    @property
    def is_terminal(self) -> bool:
        return self not in ACTIVE_STATES


ACTIVE_STATES = frozenset({JobState.PENDING, JobState.RUNNING})

SHORT_CODES: dict[JobState, str] = {
    JobState.PENDING: "PD",
    JobState.RUNNING: "R",
    JobState.COMPLETED: "CD",
    JobState.FAILED: "F",
    JobState.CANCELLED: "CA",
    JobState.TIMEOUT: "TO",
    JobState.OUT_OF_MEMORY: "OOM",
    JobState.PREEMPTED: "PR",
    JobState.NODE_FAIL: "NF",
}

_ENDINGS = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.PREEMPTED,
        JobState.NODE_FAIL,
    }
)

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # RUNNING -> PENDING is a requeue (preemption, node failure, --requeue).
    JobState.RUNNING: _ENDINGS | {JobState.PENDING},
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMEOUT: frozenset(),
    JobState.OUT_OF_MEMORY: frozenset(),
    JobState.PREEMPTED: frozenset({JobState.PENDING}),
    JobState.NODE_FAIL: frozenset({JobState.PENDING}),
}

# States in which a job counts as "ended successfully" / "ended in failure" for
# afterok / afternotok dependencies.
SUCCESS_STATES = frozenset({JobState.COMPLETED})
FAILURE_STATES = _ENDINGS - SUCCESS_STATES


def can_transition(old: JobState, new: JobState) -> bool:
    return new in TRANSITIONS[old]


def parse_state(text: str) -> JobState:
    """Accept a full name or squeue's short code, any case ("pd", "Running")."""
    upper = text.strip().upper()
    for state in JobState:
        if upper in (state.value, state.short):
            return state
    names = ", ".join(s.value for s in JobState)
    raise InvalidSpec(f"unknown job state {text!r}; expected one of {names}")
