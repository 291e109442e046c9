"""What the Slurm backend knows of Slurm's jobs: its last answers, held in memory.

Entries are keyed by display id ("12", "12_3") and carry the mlrp `Job` with Slurm's
own state and reason words. `add(entries, at)` records jobs just submitted, before
squeue has seen them. `apply(records, specs, asked_at)` takes a `squeue --json` answer
(asked at `asked_at`) and returns the ids of jobs that were active and are no longer in
it (they ended longer ago than Slurm's MinJobAge: only sacct still knows how); a job
added after that squeue was asked is not among them. `settle(records, ...)` takes
sacct's answer for them. Ended jobs stay `retention` seconds after their end, so
that `show` and `logs` keep answering without asking Slurm again.

Listings are filtered and ordered here as the local backend's store does: running jobs
first, then pending ones by priority, then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrp.models.jobs import Job, JobSpec
from mlrp.models.states import JobState
from mlrp.slurm.jobs import jobs_of
from mlrp.slurm.records import SlurmJob

ACTIVE = (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class Entry:
    job: Job
    slurm_state: str
    slurm_reason: str


def entries_of(record: SlurmJob, spec: JobSpec | None) -> list[Entry]:
    return [Entry(job, record.state, record.reason) for job in jobs_of(record, spec)]


def spec_key(record: SlurmJob) -> int:
    """The id sbatch returned for the job: an array's tasks share their array's."""
    return record.array_job_id or record.job_id


class Mirror:
    def __init__(self, *, retention: float = 3600.0) -> None:
        self.retention = retention
        self.entries: dict[str, Entry] = {}
        self.added: dict[str, float] = {}  # not yet seen by squeue: key -> when added
        # The entries last built from each record: an unchanged record is not rebuilt.
        self.built: dict[str, tuple[SlurmJob, JobSpec | None, list[Entry]]] = {}

    def add(self, entries: Iterable[Entry], *, at: float) -> None:
        for entry in entries:
            self.entries[entry.job.display_id] = entry
            self.added[entry.job.display_id] = at

    def apply(
        self,
        records: Sequence[SlurmJob],
        specs: Mapping[int, JobSpec | None],
        *,
        asked_at: float,
    ) -> list[int]:
        fresh: dict[str, Entry] = {}
        built: dict[str, tuple[SlurmJob, JobSpec | None, list[Entry]]] = {}
        for record in records:
            spec = specs.get(spec_key(record))
            entries = self._entries(record, spec)
            built[record.display_id] = (record, spec, entries)
            for entry in entries:
                fresh[entry.job.display_id] = entry
        self.built = built
        newer = {k for k, at in self.added.items() if at >= asked_at and k not in fresh}
        missing = {k: e for k, e in self.entries.items() if k not in fresh}
        vanished = sorted({e.job.id for k, e in missing.items() if _active(e) and k not in newer})
        kept = {k: e for k, e in missing.items() if not _active(e) or k in newer}
        self.entries = {**kept, **fresh}
        self.added = {k: self.added[k] for k in newer}
        return vanished

    def _entries(self, record: SlurmJob, spec: JobSpec | None) -> list[Entry]:
        last = self.built.get(record.display_id)
        if last is not None and last[1] is spec and last[0] == record:
            return last[2]
        return entries_of(record, spec)

    def settle(
        self,
        records: Sequence[SlurmJob],
        specs: Mapping[int, JobSpec | None],
        vanished: Sequence[int],
    ) -> None:
        """Take sacct's word for jobs squeue no longer shows; forget those neither knows."""
        for record in records:
            for entry in entries_of(record, specs.get(spec_key(record))):
                self.entries[entry.job.display_id] = entry
        gone = set(vanished)
        self.entries = {
            k: e for k, e in self.entries.items() if not (e.job.id in gone and _active(e))
        }

    def prune(self, now: float) -> None:
        horizon = now - self.retention
        self.entries = {
            k: e
            for k, e in self.entries.items()
            if _active(e) or (e.job.end_time or e.job.submit_time) >= horizon
        }

    def has_active(self) -> bool:
        return any(_active(e) for e in self.entries.values())

    def with_id(self, job_id: int) -> list[Entry]:
        """The entries of job `job_id` (several for the pending tasks of an array)."""
        found = [e for e in self.entries.values() if e.job.id == job_id]
        return sorted(found, key=lambda e: e.job.array_task_id or 0)

    def listing(
        self,
        *,
        states: Sequence[JobState] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
    ) -> list[Entry]:
        wanted = set(states or ACTIVE)
        found = [
            e
            for e in self.entries.values()
            if e.job.state in wanted
            and (user is None or e.job.user == user)
            and (account is None or e.job.account == account)
            and (name is None or e.job.name == name)
        ]
        return sorted(found, key=queue_order)

    def pending_ranking(self) -> list[Entry]:
        return self.listing(states=[JobState.PENDING])


def _active(entry: Entry) -> bool:
    return entry.job.state in ACTIVE


def queue_order(entry: Entry) -> tuple[bool, float, int, int]:
    job = entry.job
    return job.state is not JobState.RUNNING, -job.priority, job.id, job.array_task_id or 0


# ------------------------------------------------------------------------------ rows


def queue_row(entry: Entry) -> dict[str, Any]:
    """A listing row with the keys of the local backend's, and Slurm's own words."""
    job = entry.job
    return {
        "id": job.id,
        "array_job_id": job.array_job_id,
        "array_task_id": job.array_task_id,
        "name": job.name,
        "user": job.user,
        "account": job.account,
        "partition": job.partition,
        "qos": job.qos,
        "state": job.state.value,
        "reason": job.reason.value,
        "gpu_count": job.spec.gpus * job.spec.nodes,
        "submit_time": job.submit_time,
        "start_time": job.start_time,
        "end_time": job.end_time,
        "time_limit": job.time_limit,
        "priority": job.priority,
        "expected_start": job.expected_start,
        "exit_code": job.exit_code,
        "exit_signal": job.exit_signal,
        "held": job.held,
        "gpus": job.gpus,
        "display_id": job.display_id,
        "nodelist": job.nodelist,
        "slurm_state": entry.slurm_state,
        "slurm_reason": entry.slurm_reason,
    }


def table_row(entry: Entry) -> tuple[Any, ...]:
    """A row of mlrp.tables.queue_table: Slurm's reason word, and its node list where
    the local backend shows GPU indices."""
    job = entry.job
    return (
        job.display_id,
        job.user,
        job.account,
        job.name,
        job.state.value,
        False,
        entry.slurm_reason,
        job.spec.gpus * job.spec.nodes,
        job.nodelist,
        job.start_time,
        job.end_time,
        job.expected_start,
    )
