"""Types shared by all executors, and the `Executor` protocol the daemon programs against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything needed to start one job; the daemon builds it, the executor runs it.

    - `job_dir`: a directory the executor creates if needed (mode 0o755, and owned by
      `uid`/`gid` when the executor runs as root, so the user's output can go there).
    - `argv`: the program. For a batch script the daemon passes the script path as
      `argv[0]` when it has a shebang, else `("/bin/bash", script_path, *args)`.
      `argv[0]` is looked up in `env["PATH"]` when it holds no slash.
    - `env`: the complete environment of the job (nothing is inherited).
    - `uid`/`gid`/`groups`: the identity the job runs as (the executor must be root to
      run a job as another user).
    - `stdout`/`stderr`: files opened *as the user*, appended to, created mode 0o644;
      relative paths are relative to `workdir`. When equal, both streams share one file.
    - `time_limit`: seconds; 0 (or less) means no limit.
    - `signal`: a signal name ("TERM", "USR1", "SIGUSR2" ...) sent to the job's process
      group `signal_before` seconds before the limit; with `signal_before == 0` it is
      the signal sent *at* the limit (instead of SIGTERM).
    - `grace`: seconds between a polite signal and SIGKILL.
    - `mem_mb`: a limit on the summed RSS of the job's processes, or None.
    """

    job_id: int
    job_dir: str
    argv: tuple[str, ...]
    env: dict[str, str]
    workdir: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    stdout: str
    stderr: str
    time_limit: int
    signal: str = "TERM"
    signal_before: int = 0
    grace: int = 30
    mem_mb: int | None = None


class EndState(StrEnum):
    """How a job ended; the values equal `mlrp.models.states.JobState` values."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    PREEMPTED = "PREEMPTED"
    NODE_FAIL = "NODE_FAIL"


@dataclass(frozen=True, slots=True)
class Ended:
    """One job's end as observed by its supervisor.

    `exit_code` is set when the job's main process exited, `signal` when a signal killed
    it (then `exit_code` is None); both are None when the job never ran (NODE_FAIL,
    cancelled before it started). Times are Unix epoch seconds.
    """

    job_id: int
    state: EndState
    exit_code: int | None
    signal: int | None
    start_time: float
    end_time: float
    message: str | None


@dataclass(frozen=True, slots=True)
class Handle:
    """What the daemon stores (durably) to find a running job again after a restart.

    `supervisor_started` is the supervisor's process start time (epoch seconds, from
    /proc) so that a reused pid is never mistaken for the supervisor.
    """

    job_id: int
    supervisor_pid: int
    supervisor_started: float
    job_dir: str


@runtime_checkable
class Executor(Protocol):
    """Runs jobs and reports their ends. Every call returns quickly (the daemon is one
    asyncio thread): nothing here waits for a job."""

    def launch(self, launch: Launch) -> Handle:
        """Start the job asynchronously and return at once.

        Raises ValueError for an unusable `Launch` (empty argv, a job id already running
        here) and OSError when the job could not be set up. Problems of the job's own
        start (unknown signal name, command not found, output file not writable...) are
        not raised: the job ends FAILED with a message, reported by `poll`.
        """
        ...

    def poll(self) -> list[Ended]:
        """Jobs that ended since the last call, each reported once. Cheap: called
        every ~50 ms whatever the number of running jobs."""
        ...

    def cancel(self, handle: Handle) -> None:
        """Ask the job to stop: SIGTERM to its process group, then SIGKILL to all of it
        after `grace` seconds. It ends CANCELLED (reported by `poll`). A no-op for a
        job that already ended or is not watched by this executor."""
        ...

    def preempt(self, handle: Handle) -> None:
        """Like `cancel`, but the job ends PREEMPTED."""
        ...

    def adopt(self, handles: Sequence[Handle]) -> list[Ended]:
        """After a daemon restart: watch these jobs again (later ends come from `poll`).

        Returns the jobs that already ended meanwhile (with their real end state), and
        NODE_FAIL for a job whose supervisor died without leaving a result, after
        killing whatever is left of that job. Handles of jobs already watched are
        ignored.
        """
        ...

    def purge(self, job_id: int) -> None:
        """Forget an ended job whose end has been recorded (and delete what the executor
        kept of it, such as its environment). Raises ValueError while it runs."""
        ...
