"""An in-memory executor for tests of the daemon's logic: no process is ever started.

Jobs "run" until the test ends them with `finish()`; `cancel`/`preempt` end them at
once. `restart()` simulates a daemon restart: it returns a new executor that watches
nothing until `adopt()`, while jobs keep "running" (and may `finish()`) meanwhile.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlrp.executors.base import Ended, EndState, Handle, Launch

_FAKE_PID_BASE = 5_000_000  # above Linux's largest pid_max: never a real process


@dataclass(slots=True)
class FakeJob:
    launch: Launch
    handle: Handle
    start_time: float
    ended: Ended | None = None
    reported: bool = False


class FakeExecutor:
    """Implements the `Executor` protocol in memory."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.jobs: dict[int, FakeJob] = {}  # every job ever launched, by id
        self.launches: list[Launch] = []  # in launch order
        self.cancelled: list[int] = []  # job ids, in call order
        self.preempted: list[int] = []
        self.launch_error: Exception | None = None  # raised by the next launch()
        self._watched: set[int] = set()
        self._queue: list[Ended] = []
        self._pids = itertools.count(_FAKE_PID_BASE)

    # ------------------------------------------------------------------ protocol

    def launch(self, launch: Launch) -> Handle:
        if self.launch_error is not None:
            error, self.launch_error = self.launch_error, None
            raise error
        if not launch.argv:
            raise ValueError("the command is empty")
        if launch.job_id in self._watched:
            raise ValueError(f"job {launch.job_id} is already running here")
        now = self.clock()
        handle = Handle(launch.job_id, next(self._pids), now, launch.job_dir)
        self.jobs[launch.job_id] = FakeJob(launch, handle, now)
        self.launches.append(launch)
        self._watched.add(launch.job_id)
        return handle

    def poll(self) -> list[Ended]:
        queue, self._queue = self._queue, []
        for ended in queue:
            self.jobs[ended.job_id].reported = True
        return queue

    def cancel(self, handle: Handle) -> None:
        if self._is_running(handle):
            self.cancelled.append(handle.job_id)
            self.finish(handle.job_id, EndState.CANCELLED, exit_code=None, signal=15)

    def preempt(self, handle: Handle) -> None:
        if self._is_running(handle):
            self.preempted.append(handle.job_id)
            self.finish(handle.job_id, EndState.PREEMPTED, exit_code=None, signal=15)

    def adopt(self, handles: Sequence[Handle]) -> list[Ended]:
        result: list[Ended] = []
        for handle in handles:
            if handle.job_id in self._watched:
                continue
            job = self.jobs.get(handle.job_id)
            if job is None or job.handle != handle:
                now = self.clock()
                message = "no such job on this machine"
                ended = Ended(handle.job_id, EndState.NODE_FAIL, None, None, now, now, message)
                result.append(ended)
            elif job.ended is None:
                self._watched.add(handle.job_id)
            else:
                job.reported = True
                result.append(job.ended)
        return result

    # ------------------------------------------------------------------ test controls

    def purge(self, job_id: int) -> None:
        if job_id in self._watched:
            raise ValueError(f"job {job_id} is still running")
        self.jobs.pop(job_id, None)

    def finish(
        self,
        job_id: int,
        state: EndState = EndState.COMPLETED,
        exit_code: int | None = 0,
        signal: int | None = None,
        message: str | None = None,
    ) -> Ended:
        """End a running job as if its process had; `poll()` reports it (or `adopt()`
        after a restart when nobody watched it)."""
        job = self.jobs.get(job_id)
        if job is None or job.ended is not None:
            raise ValueError(f"job {job_id} is not running")
        if state is EndState.COMPLETED and exit_code is None:
            exit_code = 0
        ended = Ended(job_id, state, exit_code, signal, job.start_time, self.clock(), message)
        job.ended = ended
        if job_id in self._watched:
            self._watched.discard(job_id)
            self._queue.append(ended)
        return ended

    @property
    def running(self) -> list[int]:
        """Ids of jobs launched and not ended (watched or not)."""
        return sorted(i for i, job in self.jobs.items() if job.ended is None)

    def restart(self) -> FakeExecutor:
        """A new executor as after a daemon restart: same "machine" (jobs keep running;
        ends not yet polled are lost from the queue but kept for `adopt`), nothing
        watched. Use only the returned executor afterwards."""
        new = FakeExecutor(self.clock)
        new.jobs = self.jobs
        new._pids = self._pids
        for ended in self._queue:
            self.jobs[ended.job_id].reported = False
        self._queue = []
        self._watched = set()
        return new

    def _is_running(self, handle: Handle) -> bool:
        job = self.jobs.get(handle.job_id)
        return (
            job is not None
            and job.ended is None
            and job.handle == handle
            and handle.job_id in self._watched
        )
