"""The behaviours every executor shares, checked on LocalExecutor (real processes) and
FakeExecutor (in memory) alike."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrp.executors.base import Ended, EndState, Executor, Handle, Launch
from mlrp.executors.fake import FakeExecutor
from mlrp.executors.local import LocalExecutor


def _launch(root: Path, job_id: int, argv: tuple[str, ...]) -> Launch:
    out = str(root / f"{job_id}.out")
    return Launch(
        job_id=job_id,
        job_dir=str(root / "jobs" / str(job_id)),
        argv=argv,
        env={"PATH": "/usr/bin:/bin"},
        workdir=str(root),
        uid=os.getuid(),
        gid=os.getgid(),
        groups=tuple(os.getgroups()),
        stdout=out,
        stderr=out,
        time_limit=0,
        signal="TERM",
        signal_before=0,
        grace=1,
        mem_mb=None,
    )


class Driver:
    """Starts jobs that exit with a given code (or run until stopped) on one executor,
    and collects what poll() reports."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.executor: Executor
        if kind == "local":
            self.executor = LocalExecutor(root / "home")
        else:
            self.executor = FakeExecutor()
        self.seen: list[Ended] = []
        self.handles: dict[int, Handle] = {}

    def start(self, job_id: int, exit_code: int | None) -> Handle:
        """exit_code None: a job that runs until cancelled."""
        if exit_code is None:
            argv: tuple[str, ...] = ("sleep", "30")
        else:
            argv = ("/bin/sh", "-c", f"exit {exit_code}")
        handle = self.executor.launch(_launch(self.root, job_id, argv))
        self.handles[job_id] = handle
        if exit_code is not None and isinstance(self.executor, FakeExecutor):
            state = EndState.COMPLETED if exit_code == 0 else EndState.FAILED
            self.executor.finish(job_id, state, exit_code=exit_code)
        return handle

    def poll(self) -> list[Ended]:
        ended = self.executor.poll()
        self.seen.extend(ended)
        return ended

    def wait(self, job_id: int, timeout: float = 15.0) -> Ended:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            for ended in self.seen:
                if ended.job_id == job_id:
                    return ended
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not end within {timeout}s")

    def settle(self, seconds: float = 0.3) -> None:
        """Keep polling a while (to catch duplicate reports)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            time.sleep(0.02)

    def reports(self, job_id: int) -> list[Ended]:
        return [e for e in self.seen if e.job_id == job_id]


@pytest.fixture(params=["local", "fake"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    root = Path(tempfile.mkdtemp(prefix="mxc-", dir="/tmp"))
    d = Driver(request.param, root)
    yield d
    if isinstance(d.executor, LocalExecutor):
        for job_id in d.executor.running:  # leave nothing behind even on failure
            d.executor.cancel(d.handles[job_id])
            d.wait(job_id)
        d.settle(0.1)  # reaps the supervisors
        d.executor.close()
    shutil.rmtree(root, ignore_errors=True)


class TestExecutorContract:
    def test_implements_the_protocol(self, driver: Driver) -> None:
        assert isinstance(driver.executor, Executor)

    def test_exit_zero_is_completed(self, driver: Driver) -> None:
        before = time.time()
        driver.start(1, 0)
        ended = driver.wait(1)
        assert ended.state is EndState.COMPLETED
        assert ended.exit_code == 0
        assert ended.signal is None
        assert before - 1 <= ended.start_time <= ended.end_time <= time.time() + 1

    def test_nonzero_exit_is_failed_with_the_code(self, driver: Driver) -> None:
        driver.start(2, 3)
        ended = driver.wait(2)
        assert ended.state is EndState.FAILED
        assert ended.exit_code == 3

    def test_cancel_is_cancelled(self, driver: Driver) -> None:
        handle = driver.start(3, None)
        driver.settle(0.2)
        assert driver.reports(3) == []
        driver.executor.cancel(handle)
        ended = driver.wait(3)
        assert ended.state is EndState.CANCELLED

    def test_preempt_is_preempted(self, driver: Driver) -> None:
        handle = driver.start(4, None)
        driver.executor.preempt(handle)
        assert driver.wait(4).state is EndState.PREEMPTED

    def test_each_end_is_reported_exactly_once(self, driver: Driver) -> None:
        handles = [driver.start(10 + i, i % 2) for i in range(4)]
        sleeper = driver.start(20, None)
        for handle in handles:
            driver.wait(handle.job_id)
        driver.executor.cancel(sleeper)
        driver.wait(20)
        driver.executor.cancel(sleeper)  # a second cancel of an ended job: a no-op
        driver.settle()
        for job_id in (10, 11, 12, 13, 20):
            assert len(driver.reports(job_id)) == 1, driver.seen
        assert [driver.reports(10 + i)[0].exit_code for i in range(4)] == [0, 1, 0, 1]

    def test_relaunching_a_running_job_id_is_refused(self, driver: Driver) -> None:
        handle = driver.start(5, None)
        with pytest.raises(ValueError):
            driver.start(5, None)
        driver.executor.cancel(handle)
        driver.wait(5)
