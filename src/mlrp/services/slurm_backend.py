"""The Slurm backend: mlrp's API over a real Slurm, which places, orders and runs jobs.

* Submit: each spec is planned into an sbatch script (mlrp.slurm.script) before any is
  submitted, so a bad spec in a batch submits nothing; then sbatch runs as the job's
  owner (several at once, `submit_workers`), and if one fails the jobs of the batch
  already submitted are cancelled. The spec is recorded (command, environment: what
  Slurm does not keep) under Slurm's job id.
* State: `refresh()` asks `squeue --json` once for every job, and sacct once for the
  jobs squeue no longer shows. The poller refreshes every `poll_interval` while jobs
  are active and backs off (doubling, up to `idle_interval`) while none is; a read
  refreshes first when the mirror is older than `poll_interval`, and concurrent reads
  share one refresh. So slurmctld sees about one squeue per interval, however many
  users ask.
* Actions: scancel and scontrol hold/release run as the caller, so Slurm decides what
  the caller may touch. History comes from sacct, nodes from sinfo, shares from sshare.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mlrp import tables
from mlrp.errors import (
    InvalidSpec,
    InvalidTransition,
    MlrpError,
    NotFound,
    PermissionDenied,
    Unsatisfiable,
)
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.reasons import EXPLANATIONS
from mlrp.models.states import JobState
from mlrp.parsing.arrays import parse_array
from mlrp.services.backend import Listing, LogChunk, Selection
from mlrp.services.identity import Caller, lookup_user
from mlrp.services.queries import PRIVATE_SPEC_FIELDS, local_time, read_chunk
from mlrp.services.slurm_mirror import (
    Entry,
    Mirror,
    entries_of,
    queue_order,
    queue_row,
    spec_key,
    table_row,
)
from mlrp.services.submission import Receipt, job_spec, request_fields
from mlrp.slurm.client import SlurmClient, SlurmUser
from mlrp.slurm.jobs import log_paths
from mlrp.slurm.records import ShareLine, SlurmJob, SlurmNode
from mlrp.slurm.script import BatchScript, plan_script
from mlrp.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    """One spec, ready for sbatch: the script, who submits it, from where."""

    spec: JobSpec  # with the working directory filled in
    script: BatchScript
    owner: SlurmUser
    workdir: str


@dataclass(frozen=True, slots=True)
class PollSettings:
    poll_interval: float = 2.0
    idle_interval: float = 30.0
    submit_workers: int = 4
    retention: float = 3600.0


class SlurmBackend:
    kind = "slurm"

    def __init__(
        self,
        client: SlurmClient,
        store: Store,
        *,
        multi_user: bool,
        admins: Sequence[str] = (),
        settings: PollSettings = PollSettings(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.multi_user = multi_user
        self.admins = admins
        self.settings = settings
        self.clock = clock
        self.mirror = Mirror(retention=settings.retention)
        self.specs: dict[int, JobSpec | None] = {}
        self.refreshed_at = float("-inf")  # monotonic time the last squeue was asked
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False

    def describe(self) -> str:
        return f"Slurm backend (commands in {self.client.bin_dir}, config {self.client.conf})"

    # --- submit -----------------------------------------------------------------------

    async def submit(self, caller: Caller, spec: JobSpec) -> Receipt:
        return (await self.submit_many(caller, [spec], env=None))[0]

    async def submit_request(self, caller: Caller, request: Mapping[str, Any]) -> Receipt:
        return await self.submit(caller, job_spec(request_fields(self.clock(), **request)))

    async def plan(self, caller: Caller, request: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock()
        fields = request_fields(now, **request)
        plan = self._plan(caller, job_spec(fields), now)
        return {"backend": self.kind, "fields": fields, "script": plan.script.render()}

    async def submit_many(
        self, caller: Caller, specs: Sequence[JobSpec], *, env: Mapping[str, str] | None
    ) -> list[Receipt]:
        now = self.clock()
        plans = [self._plan(caller, _with_env(spec, env), now) for spec in specs]
        ids = await self._sbatch_all(plans)
        self.store.record_external(
            [(job_id, p.owner.name, p.spec, now) for job_id, p in zip(ids, plans, strict=True)]
        )
        for job_id, plan in zip(ids, plans, strict=True):
            self.specs[job_id] = plan.spec
            submitted = entries_of(_submitted(job_id, plan, now), plan.spec)
            self.mirror.add(submitted, at=time.monotonic())
        self._wake.set()
        return [_receipt(job_id, plan.spec) for job_id, plan in zip(ids, plans, strict=True)]

    def _plan(self, caller: Caller, spec: JobSpec, now: float) -> Plan:
        owner = self._owner(caller, spec)
        home = _home(owner.uid)
        workdir = spec.workdir or home
        script = plan_script(spec, now=now, workdir=workdir, slurm_bin=self.client.bin_dir)
        recorded = spec.model_copy(update={"workdir": workdir})
        return Plan(recorded, script, owner, workdir)

    def _owner(self, caller: Caller, spec: JobSpec) -> SlurmUser:
        if spec.as_user is None:
            return _slurm_user(caller) if self.multi_user else _me()
        if not self.multi_user:
            raise InvalidSpec(
                "--as-user has no meaning on the Slurm backend in personal mode: Slurm "
                "sees every job as the daemon's user"
            )
        if not caller.is_admin:
            raise PermissionDenied("only an admin may submit a job as another user (--as-user)")
        entry = lookup_user(spec.as_user)
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        return SlurmUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)

    async def _sbatch_all(self, plans: Sequence[Plan]) -> list[int]:
        gate = asyncio.Semaphore(self.settings.submit_workers)

        async def one(plan: Plan) -> int:
            async with gate:
                return await self._slurm(
                    self.client.submit,
                    plan.script,
                    env=plan.spec.env,
                    user=plan.owner,
                    cwd=plan.workdir,
                    context=_context(plan),
                )

        results = await asyncio.gather(*(one(p) for p in plans), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            return [r for r in results if isinstance(r, int)]
        await self._undo(plans, results)
        raise failures[0]

    async def _undo(self, plans: Sequence[Plan], results: Sequence[int | BaseException]) -> None:
        """All or nothing: cancel what a failed batch did submit (one scancel per owner)."""
        by_owner: dict[SlurmUser, list[str]] = {}
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, int):
                by_owner.setdefault(plan.owner, []).append(str(result))
        for owner, ids in by_owner.items():
            with contextlib.suppress(MlrpError):
                await self._slurm(self.client.cancel, ids, user=owner)

    # --- state ------------------------------------------------------------------------

    async def refresh(self, *, max_age: float = 0.0) -> None:
        """Bring the mirror up to date, unless a squeue asked within `max_age` seconds
        (or while this call waited for another refresh) answered already."""
        asked = time.monotonic()
        async with self._lock:
            if self.refreshed_at >= asked - max_age:
                return
            started = time.monotonic()
            records = await self._slurm(self.client.jobs)
            vanished = self.mirror.apply(records, self._specs_of(records), asked_at=started)
            if vanished:
                await self._settle(vanished)
            self.mirror.prune(self.clock())
            self.refreshed_at = started

    async def _settle(self, vanished: Sequence[int]) -> None:
        try:
            finals = await self._slurm(self.client.accounting, job_ids=vanished)
        except MlrpError as e:  # no accounting: Slurm has forgotten them
            log.warning("sacct for jobs squeue no longer shows failed: %s", e)
            finals = []
        self.mirror.settle(finals, self._specs_of(finals), vanished)

    def _specs_of(self, records: Sequence[SlurmJob]) -> dict[int, JobSpec | None]:
        keys = {spec_key(r) for r in records}
        missing = [k for k in keys if k not in self.specs]
        if missing:
            found = self.store.external_specs(missing)
            self.specs.update({k: found.get(k) for k in missing})
        return {k: self.specs[k] for k in keys}

    async def _fresh(self) -> None:
        await self.refresh(max_age=self.settings.poll_interval)

    async def poll(self) -> None:
        """The poller: refresh while jobs are active, back off while none is."""
        delay = self.settings.poll_interval
        while not self._stopping:
            woken = await self._sleep(delay)
            if self._stopping:
                return
            if woken:  # a submit or an action: poll again soon, but never faster
                delay = self.settings.poll_interval
                await asyncio.sleep(max(0.0, self.refreshed_at + delay - time.monotonic()))
            try:
                await self.refresh(max_age=self.settings.poll_interval / 2)
            except MlrpError as e:
                log.warning("polling Slurm failed: %s", e)
            active = self.mirror.has_active()
            delay = self.settings.poll_interval if active else self._backoff(delay)

    def _backoff(self, delay: float) -> float:
        return min(max(delay, self.settings.poll_interval) * 2, self.settings.idle_interval)

    async def _sleep(self, delay: float) -> bool:
        """Wait `delay` seconds or until woken; True when woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the poller for as long as the API serves."""
        task = asyncio.create_task(self.poll())
        try:
            yield
        finally:
            self._stopping = True
            self._wake.set()
            await task

    async def _slurm(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Slurm command, off the event loop."""
        return await asyncio.to_thread(call, *args, **kwargs)

    # --- reads ------------------------------------------------------------------------

    async def queue_json(self, listing: Listing) -> str:
        if listing.ended_since is not None:
            entries = await self._history(listing)
        else:
            await self._fresh()
            entries = self.mirror.listing(
                states=listing.states, user=listing.user, account=listing.account,
                name=listing.name,
            )  # fmt: skip
        return json.dumps([queue_row(e) for e in entries])

    async def _history(self, listing: Listing) -> list[Entry]:
        assert listing.ended_since is not None
        records = await self._slurm(self.client.accounting, since=listing.ended_since)
        specs = self._specs_of(records)
        found = {
            e.job.display_id: e for r in records for e in entries_of(r, specs.get(spec_key(r)))
        }
        # squeue's word is fresher than sacct's (slurmdbd hears of a job a moment later).
        await self._fresh()
        since = listing.ended_since
        found.update(
            {k: e for k, e in self.mirror.entries.items() if (e.job.end_time or since) >= since}
        )
        entries = list(found.values())
        wanted = set(listing.states or JobState)
        return sorted(
            (
                e
                for e in entries
                if e.job.state in wanted
                and (listing.user is None or e.job.user == listing.user)
                and (listing.account is None or e.job.account == listing.account)
                and (listing.name is None or e.job.name == listing.name)
            ),
            key=lambda e: (e.job.id, e.job.array_task_id or 0),
        )

    async def queue_table(self, listing: Listing, *, start: bool, tz: str | None) -> str:
        await self._fresh()
        entries = self.mirror.listing(
            states=listing.states, user=listing.user, account=listing.account, name=listing.name
        )
        rows = [table_row(e) for e in entries]
        return tables.queue_table(rows, self.clock(), start=start, localtime=local_time(tz)) + "\n"

    async def job_detail(self, caller: Caller, job_id: int) -> dict[str, Any]:
        entry = await self._entry(job_id)
        job = entry.job
        data = job.model_dump(mode="json")
        for private in ("supervisor_pid", "supervisor_started"):
            data.pop(private, None)
        out, err = log_paths(job)
        data.update(
            display_id=job.display_id,
            gpu_count=job.spec.gpus * job.spec.nodes,
            reason_text=EXPLANATIONS[job.reason],
            priority_weighted={},
            stdout_path=out,
            stderr_path=err,
            slurm_state=entry.slurm_state,
            slurm_reason=entry.slurm_reason,
        )
        if not caller.may_act_on(job):
            for name in PRIVATE_SPEC_FIELDS:
                data["spec"].pop(name, None)
        return data

    async def _entry(self, job_id: int) -> Entry:
        await self._fresh()
        found = self.mirror.with_id(job_id)
        if found:
            return found[0]
        records = await self._slurm(self.client.accounting, job_ids=[job_id])
        specs = self._specs_of(records)
        entries = [
            e for r in records if r.job_id == job_id for e in entries_of(r, specs.get(spec_key(r)))
        ]
        if not entries:
            raise NotFound(f"no job {job_id} (Slurm does not know it)")
        return entries[0]

    async def explain(self, job_id: int, versus: int | None) -> dict[str, Any]:
        if versus is not None:
            raise Unsatisfiable(
                "comparing two jobs factor by factor needs mlrp's own scheduler; on the "
                "Slurm backend ask Slurm: sprio -j JOB,OTHER"
            )
        entry = await self._entry(job_id)
        job = entry.job
        ranking = [e.job.display_id for e in self.mirror.pending_ranking()]
        position = ranking.index(job.display_id) + 1 if job.display_id in ranking else None
        return {
            "id": job.id, "display_id": job.display_id, "state": job.state.value,
            "user": job.user, "account": job.account, "qos": job.qos,
            "partition": job.partition, "gpus": job.spec.gpus, "reason": job.reason.value,
            "reason_text": f"{EXPLANATIONS[job.reason]} (Slurm: {entry.slurm_reason})",
            "priority": job.priority, "nice": job.spec.nice, "factors": {},
            "expected_start": job.expected_start, "position": position,
            "pending": len(ranking) if position else None, "ahead": [], "versus": None,
        }  # fmt: skip

    async def read_log(self, caller: Caller, job_id: int, *, stream: str, offset: int) -> LogChunk:
        entry = await self._entry(job_id)
        job = entry.job
        if not caller.may_act_on(job):
            raise PermissionDenied(f"the logs of job {job.display_id} belong to {job.user}")
        out, err = log_paths(job)
        owner = job.uid if self.multi_user else None
        data, next_offset = read_chunk(
            err if stream == "err" else out, owner_uid=owner, offset=offset
        )
        return LogChunk(data, next_offset, job.state)

    # --- actions ----------------------------------------------------------------------

    async def cancel(self, caller: Caller, selection: Selection) -> list[str]:
        await self._fresh()
        entries = self._select(selection)
        targets = [e.job.display_id for e in entries]
        if targets:
            # A job that ended meanwhile is as good as cancelled.
            with contextlib.suppress(InvalidTransition):
                await self._slurm(self.client.cancel, targets, user=self._actor(caller))
            self._wake.set()
        return targets

    async def set_held(self, caller: Caller, selection: Selection, held: bool) -> list[str]:
        await self._fresh()
        entries = self._select(selection)
        for entry in entries:
            if entry.job.state is not JobState.PENDING:
                raise InvalidTransition(
                    f"job {entry.job.display_id} is {entry.job.state}; only pending jobs can "
                    f"be {'held' if held else 'released'}"
                )
        if entries:
            action = self.client.hold if held else self.client.release
            targets = [e.job.display_id for e in entries]
            await self._slurm(action, targets, user=self._actor(caller))
            self._wake.set()
        return [e.job.display_id for e in entries]

    def _select(self, selection: Selection) -> list[Entry]:
        if (
            not selection.targets
            and selection.user is None
            and selection.name is None
            and not selection.states
        ):
            raise InvalidSpec("name at least one job id or a filter (--user, --name, --state)")
        if selection.targets:
            found = [e for target in selection.targets for e in self._resolve(target)]
        else:
            found = self.mirror.listing(states=selection.states)
        chosen = [
            e
            for e in found
            if e.job.state in (JobState.PENDING, JobState.RUNNING)
            and (selection.user is None or e.job.user == selection.user)
            and (selection.name is None or e.job.name == selection.name)
            and (not selection.states or e.job.state in selection.states)
        ]
        return sorted({e.job.display_id: e for e in chosen}.values(), key=queue_order)

    def _resolve(self, target: str) -> list[Entry]:
        head, _, task = target.partition("_")
        if not _decimal(head) or (task and not _decimal(task)):
            raise InvalidSpec(f"invalid job id {target!r}; expected 123 or 123_4")
        job_id = int(head)
        entries = self.mirror.entries.values()
        if task:
            found = [e for e in entries if e.job.display_id == target]
        else:
            found = [e for e in entries if job_id in (e.job.id, e.job.array_job_id)]
        if not found:
            raise NotFound(f"no job {target}")
        return found

    def _actor(self, caller: Caller) -> SlurmUser | None:
        """Who runs scancel/scontrol: the caller, so that Slurm's permissions apply."""
        if not self.multi_user or caller.uid in (0, os.geteuid()):
            return None
        return _slurm_user(caller)

    # --- the cluster ------------------------------------------------------------------

    async def nodes(self) -> list[dict[str, Any]]:
        return [_node_row(node) for node in await self._slurm(self.client.nodes)]

    async def gpus(self) -> list[dict[str, Any]]:
        """Each node's GPUs, and the running one-node job holding each (from squeue's
        GPU indices; a multi-node job's GPUs are counted on its nodes, not placed)."""
        await self._fresh()
        holders = {
            (e.job.nodelist, gpu): e.job
            for e in self.mirror.listing(states=[JobState.RUNNING])
            for gpu in e.job.gpus
        }
        rows = []
        for node in await self._slurm(self.client.nodes):
            for index in range(node.gpus):
                job = holders.get((node.name, index))
                rows.append(_gpu_row(node.name, index, node.gpu_types, job))
        return rows

    async def shares(self) -> list[dict[str, Any]]:
        """sshare's tree, as the local backend's share rows (usage in Slurm's billing
        seconds; a blank cell of sshare is None, or 0 where the CLI needs a number)."""
        return [_share_row(line) for line in await self._slurm(self.client.shares)]


# ---------------------------------------------------------------------------- helpers


def _with_env(spec: JobSpec, env: Mapping[str, str] | None) -> JobSpec:
    if env is None or "env" in spec.model_fields_set:
        return spec
    return spec.model_copy(update={"env": dict(env)})


def _slurm_user(caller: Caller) -> SlurmUser:
    return SlurmUser(caller.user, caller.uid, caller.gid, caller.groups)


def _me() -> SlurmUser:
    entry = pwd.getpwuid(os.geteuid())
    return SlurmUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _home(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_dir or "/"
    except KeyError:
        return "/"


def _context(plan: Plan) -> dict[str, str]:
    """What the user asked for, for Slurm's refusals to name (mlrp.slurm.failures)."""
    script = plan.script
    given = {
        "account": plan.spec.account,
        "partition": plan.spec.partition,
        "qos": plan.spec.qos,
        "gres": script.option("--gres"),
        "nodes": script.option("--nodes"),
        "mem": script.option("--mem"),
    }
    return {"user": plan.owner.name, **{k: v for k, v in given.items() if v}}


def _submitted(job_id: int, plan: Plan, now: float) -> SlurmJob:
    """What the mirror shows of a job until squeue first answers for it."""
    spec = plan.spec
    return SlurmJob(
        job_id=job_id,
        name=spec.display_name(),
        user=plan.owner.name,
        uid=plan.owner.uid,
        gid=plan.owner.gid,
        account=spec.account or "",
        partition=spec.partition or "",
        qos=spec.qos or "",
        state="PENDING",
        reason="JobHeldUser" if spec.hold else "None",
        submit_time=now,
        array_job_id=job_id if spec.array else None,
        pending_tasks=spec.array,
        time_limit=spec.time_limit,
        node_count=spec.nodes,
        gpus_per_node=spec.gpus,
        gpu_type=spec.gpu_type,
        workdir=spec.workdir,
    )


def _receipt(job_id: int, spec: JobSpec) -> Receipt:
    if spec.array is None:
        return Receipt([job_id], [str(job_id)])
    indices = parse_array(spec.array).indices
    return Receipt([job_id] * len(indices), [f"{job_id}_{i}" for i in indices])


def _node_row(n: SlurmNode) -> dict[str, Any]:
    return {
        "name": n.name, "state": n.state, "gpus": n.gpus, "gpus_allocated": n.gpus_allocated,
        "gpu_models": list(n.gpu_types), "cpus": n.cpus, "memory_mb": n.memory_mb,
        "source": "slurm", "links": [], "partitions": list(n.partitions), "reason": n.reason,
    }  # fmt: skip


def _share_row(s: ShareLine) -> dict[str, Any]:
    return {
        "account": s.account, "user": s.user, "depth": s.depth,
        "raw_shares": s.raw_shares or 0, "norm_shares": s.norm_shares, "raw_usage": s.raw_usage,
        "norm_usage": s.norm_usage or 0.0, "effective_usage": s.effective_usage,
        "fairshare": s.fairshare, "level_fs": s.level_fs,
    }  # fmt: skip


def _gpu_row(node: str, index: int, types: Sequence[str], job: Job | None) -> dict[str, Any]:
    return {
        "index": index, "model": types[0] if types else "gpu", "memory_mb": 0, "node": node,
        "state": "allocated" if job else "idle", "job_id": job.id if job else None,
        "job_user": job.user if job else None, "utilization": None, "memory_used_mb": None,
        "pids": [],
    }  # fmt: skip


def _decimal(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return text.isascii() and text.isdigit()
