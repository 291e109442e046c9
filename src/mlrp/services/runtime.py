"""Starting jobs on their GPUs, preempting them, and recording how they end.

Start: PENDING -> RUNNING (guarded) first, then the executor launches; a launch that
fails turns the job FAILED with the reason. Preempt: the job is marked (`preempted_by`)
and the executor stops it like a cancel (signal, grace, SIGKILL), reporting PREEMPTED.
End: the executor's report becomes the final state, or a requeue (same id,
MLRP_RESTART_COUNT + 1): a preempted job whose QOS has `preempt_mode = "requeue"` (the
default), and a preempted or node-failed job that asked for `--requeue`. A job requeued
after a preemption keeps `preempted_by` until it starts again: the scheduler holds it
back while its preemptor is still pending (unless the preemptor is itself a requeued
victim, e.g. of this job), so the GPUs it gave up go to that job.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

from mlrp.executors.base import Ended, EndState, Handle, Launch
from mlrp.executors.environment import job_environment
from mlrp.models.jobs import Job
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.parsing.patterns import expand_for_job
from mlrp.paths import jobs_dir
from mlrp.scheduler import PriorityBreakdown
from mlrp.services import accounting
from mlrp.services.context import Platform

log = logging.getLogger(__name__)

REQUEUE_ON = frozenset({EndState.PREEMPTED, EndState.NODE_FAIL})


def job_dir(platform: Platform, job_id: int) -> Path:
    return jobs_dir(platform.home) / str(job_id)


def handle_of(platform: Platform, job: Job) -> Handle:
    return Handle(
        job_id=job.id,
        supervisor_pid=job.supervisor_pid or 0,
        supervisor_started=job.supervisor_started or 0.0,
        job_dir=str(job_dir(platform, job.id)),
    )


def workdir_of(job: Job) -> str:
    if job.spec.workdir:
        return job.spec.workdir
    return job.spec.env.get("HOME") or "/"


def log_paths(platform: Platform, job: Job) -> tuple[Path, Path]:
    """Where the job's stdout and stderr go. Without --output/--error: out.log and err.log
    in the job's folder; with --output only, both streams go there (as in Slurm)."""
    folder = job_dir(platform, job.id)
    out = _expand(job, job.spec.output, platform.inventory.hostname)
    err = _expand(job, job.spec.error, platform.inventory.hostname)
    stdout = out or folder / "out.log"
    stderr = err or out or folder / "err.log"
    return stdout, stderr


def _expand(job: Job, pattern: str | None, node: str) -> Path | None:
    if pattern is None:
        return None
    name = expand_for_job(pattern, job, node)
    path = Path(name)
    return path if path.is_absolute() else Path(workdir_of(job)) / path


def start(
    platform: Platform, job: Job, gpus: tuple[int, ...], priority: PriorityBreakdown | None
) -> bool:
    """PENDING -> RUNNING on `gpus`, recording the priority it was chosen with, then
    launch; False when another change got there first or the launch failed."""
    ranking: dict[str, object] = {}
    if priority is not None:
        ranking = {"priority": round(priority.total, 3), "priority_factors": priority.factors}
    started = platform.store.transition(
        job.id,
        JobState.PENDING,
        JobState.RUNNING,
        gpus=list(gpus),
        start_time=platform.clock(),
        reason=Reason.NONE,
        expected_start=None,
        preempted_by=None,
        preempt_cause=None,
        **ranking,
    )
    if not started:
        return False
    try:
        handle = platform.executor.launch(_launch_of(platform, job, gpus))
    except (OSError, ValueError, KeyError) as e:  # KeyError: the job's user is gone
        log.exception("launch of job %s failed", job.id)
        platform.store.transition(
            job.id,
            JobState.RUNNING,
            JobState.FAILED,
            end_time=platform.clock(),
            message=f"launch failed: {e}",
        )
        return False
    platform.store.update(
        job.id,
        supervisor_pid=handle.supervisor_pid,
        supervisor_started=handle.supervisor_started,
    )
    return True


def _launch_of(platform: Platform, job: Job, gpus: tuple[int, ...]) -> Launch:
    folder = job_dir(platform, job.id)
    folder.mkdir(parents=True, exist_ok=True)
    if platform.multi_user:
        os.chown(folder, job.uid, job.gid)
        os.chmod(folder, 0o700)  # the job's script and output: for its owner only
    stdout, stderr = log_paths(platform, job)
    spec = job.spec
    base_env = spec.env
    if platform.multi_user and spec.as_user is not None:
        # Submitted for someone else (--as-user): their identity, not the submitter's.
        entry = pwd.getpwuid(job.uid)
        identity = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}
        base_env = {**spec.env, **identity}
    env = job_environment(
        base_env,
        job_id=job.id,
        job_name=job.name,
        user=job.user,
        account=job.account,
        partition=job.partition,
        gpus=gpus,
        cpus=spec.cpus_per_task,
        mem_mb=spec.mem_mb,
        time_limit=job.time_limit,
        array_job_id=job.array_job_id,
        array_task_id=job.array_task_id,
        restart_count=job.restart_count,
        submit_dir=workdir_of(job),
        hostname=platform.inventory.hostname,
        slurm_env=spec.slurm_env,
    )
    return Launch(
        job_id=job.id,
        job_dir=str(folder),
        argv=_argv(platform, job, folder),
        env=env,
        workdir=workdir_of(job),
        uid=job.uid,
        gid=job.gid,
        groups=_groups(platform, job),
        stdout=str(stdout),
        stderr=str(stderr),
        time_limit=job.time_limit,
        signal=spec.signal,
        signal_before=spec.signal_before,
        grace=platform.config.daemon.grace,
        mem_mb=spec.mem_mb,
    )


def _argv(platform: Platform, job: Job, folder: Path) -> tuple[str, ...]:
    spec = job.spec
    if spec.argv is not None:
        return tuple(spec.argv)
    assert spec.script is not None
    script = folder / "script"
    # The folder belongs to the job's user (and is reused on a requeue): never follow or
    # reuse what may have been put there, or root would write, chmod and chown its target.
    script.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(script, flags, 0o700), "w") as f:
        os.fchmod(f.fileno(), 0o700)
        if platform.multi_user:
            os.fchown(f.fileno(), job.uid, job.gid)
        f.write(spec.script)
    if spec.script.startswith("#!"):
        return (str(script), *spec.script_args)
    return ("/bin/bash", str(script), *spec.script_args)


def _groups(platform: Platform, job: Job) -> tuple[int, ...]:
    if not platform.multi_user:
        return tuple(os.getgroups())
    return tuple(os.getgrouplist(pwd.getpwuid(job.uid).pw_name, job.gid))


def preempt(platform: Platform, job_id: int, for_job: int, cause: str) -> bool:
    """Stop running job `job_id` so that `for_job` can start (`cause`: why, in words);
    False when it is not running (any more) or already being preempted."""
    job = platform.store.get(job_id)
    if job is None or job.state is not JobState.RUNNING or job.preempted_by is not None:
        return False
    platform.store.update(job_id, preempted_by=for_job, preempt_cause=cause)
    log.info("job %s preempted for job %s (%s)", job_id, for_job, cause)
    platform.executor.preempt(handle_of(platform, job))
    return True


def _requeues(platform: Platform, job: Job, ended: Ended) -> bool:
    if ended.state is EndState.PREEMPTED and job.preempted_by is not None:
        qos = platform.policy.qos_named(job.qos)
        if qos is None or qos.preempt_mode == "requeue":
            return True
    return ended.state in REQUEUE_ON and job.spec.requeue


def record_end(platform: Platform, ended: Ended) -> None:
    job = platform.store.get(ended.job_id)
    if job is None or job.state is not JobState.RUNNING:
        return
    accounting.charge_final(platform, job, ended.end_time)
    if _requeues(platform, job, ended):
        _requeue(platform, job, ended)
    else:
        platform.store.transition(
            job.id,
            JobState.RUNNING,
            JobState(ended.state.value),
            end_time=ended.end_time,
            exit_code=ended.exit_code,
            exit_signal=ended.signal,
            message=_message(job, ended),
            preempted_by=None,
            preempt_cause=None,
        )
    platform.executor.purge(job.id)
    platform.wake()


def _message(job: Job, ended: Ended) -> str | None:
    parts = [m for m in (job.message, ended.message) if m]
    if job.preempted_by is not None:
        parts.insert(0, f"preempted by job {job.preempted_by}{_cause(job)}")
    return "; ".join(parts) or None


def _requeue_message(job: Job, ended: Ended) -> str:
    if job.preempted_by is not None:
        return f"requeued after preemption by job {job.preempted_by}{_cause(job)}"
    return f"requeued after {ended.state.value.lower()}"


def _cause(job: Job) -> str:
    return f" ({job.preempt_cause})" if job.preempt_cause else ""


def _requeue(platform: Platform, job: Job, ended: Ended) -> None:
    platform.store.transition(
        job.id,
        JobState.RUNNING,
        JobState.PENDING,
        gpus=[],
        start_time=None,
        restart_count=job.restart_count + 1,
        supervisor_pid=None,
        supervisor_started=None,
        message=_requeue_message(job, ended),
    )


def adopt_running(platform: Platform) -> int:
    """After a restart: watch the jobs still running, record those that ended meanwhile."""
    running = platform.store.find(states=[JobState.RUNNING])
    for ended in platform.executor.adopt([handle_of(platform, j) for j in running]):
        record_end(platform, ended)
    return len(running)


def reap(platform: Platform) -> int:
    """Record every end the executor has seen since the last call."""
    ends = platform.executor.poll()
    for ended in ends:
        record_end(platform, ended)
    return len(ends)
