"""The seam between the API and what runs jobs: one `Backend`, chosen once by the daemon.

    LocalBackend   mlrp's own scheduler and executor on this machine (this module)
    SlurmBackend   a Slurm cluster: Slurm places and orders jobs (mlrp.services.slurm)

Routes call a backend and serialize; they never ask which one it is, and both answer
with the same JSON shapes. Every method is async: the Slurm backend waits for Slurm's
commands without blocking the event loop; the local one is quick and runs inline (its
SQLite connection belongs to the loop's thread). The background work of each (the
scheduling loop, or Slurm's poller) is started by the daemon, which built it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mlrp.models.jobs import JobSpec
from mlrp.models.states import JobState
from mlrp.services import control, explain, queries, submission
from mlrp.services.context import Platform
from mlrp.services.identity import Caller
from mlrp.services.submission import Receipt
from mlrp.slurm.script import plan_script


@dataclass(frozen=True, slots=True)
class Listing:
    """Which jobs a listing shows: active ones, or with `ended_since` the history."""

    states: Sequence[JobState] | None = None
    user: str | None = None
    account: str | None = None
    name: str | None = None
    ended_since: float | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which active jobs an action applies to: ids as users write them, and filters."""

    targets: Sequence[str] = ()
    user: str | None = None
    name: str | None = None
    states: Sequence[JobState] | None = None


@dataclass(frozen=True, slots=True)
class LogChunk:
    data: bytes
    offset: int  # where the next read starts
    state: JobState  # the job's state, so that a follower knows when to stop


class Backend(Protocol):
    kind: str  # "local" or "slurm"
    multi_user: bool
    admins: Sequence[str]

    async def submit(self, caller: Caller, spec: JobSpec) -> Receipt: ...
    async def submit_many(
        self, caller: Caller, specs: Sequence[JobSpec], *, env: Mapping[str, str] | None
    ) -> list[Receipt]: ...
    async def submit_request(self, caller: Caller, request: Mapping[str, Any]) -> Receipt: ...
    async def plan(self, caller: Caller, request: Mapping[str, Any]) -> dict[str, Any]: ...
    async def queue_json(self, listing: Listing) -> str: ...
    async def queue_table(self, listing: Listing, *, start: bool, tz: str | None) -> str: ...
    async def job_detail(self, caller: Caller, job_id: int) -> dict[str, Any]: ...
    async def explain(self, job_id: int, versus: int | None) -> dict[str, Any]: ...
    async def read_log(
        self, caller: Caller, job_id: int, *, stream: str, offset: int
    ) -> LogChunk: ...
    async def cancel(self, caller: Caller, selection: Selection) -> list[str]: ...
    async def set_held(self, caller: Caller, selection: Selection, held: bool) -> list[str]: ...
    async def gpus(self) -> list[dict[str, Any]]: ...
    async def nodes(self) -> list[dict[str, Any]]: ...
    async def shares(self) -> list[dict[str, Any]]: ...
    def describe(self) -> str: ...


def plan_of(fields: Mapping[str, Any], *, now: float, workdir: str | None) -> str:
    """The sbatch script of parsed request fields (`mlrp submit --dry-run`)."""
    return plan_script(submission.job_spec(fields), now=now, workdir=workdir).render()


class LocalBackend:
    """mlrp's own scheduler and executor, through the services of this package."""

    kind = "local"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.multi_user = platform.multi_user
        self.admins: Sequence[str] = platform.config.daemon.admins

    async def submit(self, caller: Caller, spec: JobSpec) -> Receipt:
        return submission.submit(self.platform, caller, spec)

    async def submit_many(
        self, caller: Caller, specs: Sequence[JobSpec], *, env: Mapping[str, str] | None
    ) -> list[Receipt]:
        return submission.submit_many(self.platform, caller, specs, env=env)

    async def submit_request(self, caller: Caller, request: Mapping[str, Any]) -> Receipt:
        return submission.submit_request(self.platform, caller, **request)

    async def plan(self, caller: Caller, request: Mapping[str, Any]) -> dict[str, Any]:
        now = self.platform.clock()
        fields = submission.request_fields(now, **request)
        script = plan_of(fields, now=now, workdir=None)
        return {"backend": self.kind, "fields": fields, "script": script}

    async def queue_json(self, listing: Listing) -> str:
        return queries.queue_json(
            self.platform,
            states=list(listing.states) if listing.states else None,
            user=listing.user,
            account=listing.account,
            name=listing.name,
            ended_since=listing.ended_since,
        )

    async def queue_table(self, listing: Listing, *, start: bool, tz: str | None) -> str:
        return queries.queue_table(
            self.platform,
            states=list(listing.states) if listing.states else None,
            user=listing.user,
            account=listing.account,
            name=listing.name,
            start=start,
            tz=tz,
        )

    async def job_detail(self, caller: Caller, job_id: int) -> dict[str, Any]:
        return queries.job_detail(self.platform, caller, job_id)

    async def explain(self, job_id: int, versus: int | None) -> dict[str, Any]:
        return explain.explain(self.platform, job_id, versus=versus)

    async def read_log(self, caller: Caller, job_id: int, *, stream: str, offset: int) -> LogChunk:
        data, next_offset = queries.read_log(
            self.platform, caller, job_id, stream=stream, offset=offset
        )
        return LogChunk(data, next_offset, queries.get_job(self.platform, job_id).state)

    async def cancel(self, caller: Caller, selection: Selection) -> list[str]:
        jobs = control.cancel(self.platform, caller, self._select(selection))
        return [job.display_id for job in jobs]

    async def set_held(self, caller: Caller, selection: Selection, held: bool) -> list[str]:
        jobs = control.set_held(self.platform, caller, self._select(selection), held)
        return [job.display_id for job in jobs]

    def _select(self, selection: Selection) -> list[Any]:
        return control.select(
            self.platform,
            selection.targets,
            user=selection.user,
            name=selection.name,
            states=selection.states,
        )

    async def gpus(self) -> list[dict[str, Any]]:
        return queries.gpus(self.platform)

    async def nodes(self) -> list[dict[str, Any]]:
        return queries.nodes(self.platform)

    async def shares(self) -> list[dict[str, Any]]:
        return queries.shares(self.platform)

    def describe(self) -> str:
        inventory = self.platform.inventory
        return f"local backend: {len(inventory.gpus)} GPUs ({inventory.source})"
