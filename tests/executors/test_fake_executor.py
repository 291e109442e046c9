"""FakeExecutor specifics: what tests of the daemon rely on beyond the shared contract."""

from __future__ import annotations

import pytest

from mlrp.executors.base import EndState, Handle, Launch
from mlrp.executors.fake import FakeExecutor


def launch(job_id: int) -> Launch:
    return Launch(
        job_id=job_id,
        job_dir=f"/tmp/fake/{job_id}",
        argv=("train.py",),
        env={},
        workdir="/tmp",
        uid=1000,
        gid=1000,
        groups=(),
        stdout="/tmp/out",
        stderr="/tmp/out",
        time_limit=60,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jobs_run_until_finished_and_record_calls() -> None:
    clock = Clock()
    ex = FakeExecutor(clock)
    h1, h2 = ex.launch(launch(1)), ex.launch(launch(2))
    assert ex.running == [1, 2]
    assert [la.job_id for la in ex.launches] == [1, 2]
    assert ex.poll() == []
    clock.now = 1010.0
    ex.finish(1, EndState.FAILED, exit_code=2, message="boom")
    ex.preempt(h2)
    ended = ex.poll()
    assert [(e.job_id, e.state, e.exit_code) for e in ended] == [
        (1, EndState.FAILED, 2),
        (2, EndState.PREEMPTED, None),
    ]
    assert (ended[0].start_time, ended[0].end_time, ended[0].message) == (1000.0, 1010.0, "boom")
    assert ex.preempted == [2]
    assert ex.running == []
    with pytest.raises(ValueError):
        ex.finish(1)
    ex.cancel(h1)  # already ended: nothing
    assert ex.cancelled == [] and ex.poll() == []


def test_launch_error_is_raised_once() -> None:
    ex = FakeExecutor()
    ex.launch_error = OSError("no space left")
    with pytest.raises(OSError):
        ex.launch(launch(1))
    ex.launch(launch(1))
    assert ex.running == [1]


def test_restart_and_adopt() -> None:
    ex = FakeExecutor()
    running, ended_unpolled, ended_down = (ex.launch(launch(i)) for i in (1, 2, 3))
    ex.finish(2, exit_code=0)  # ended, but the daemon died before polling it
    new = ex.restart()
    new.finish(3, EndState.FAILED, exit_code=1)  # ended while nobody watched
    assert new.poll() == []
    unknown = Handle(99, 123, 0.0, "/tmp/x")
    ended = new.adopt([running, ended_unpolled, ended_down, unknown])
    assert [(e.job_id, e.state) for e in ended] == [
        (2, EndState.COMPLETED),
        (3, EndState.FAILED),
        (99, EndState.NODE_FAIL),
    ]
    assert new.adopt([running]) == []  # already watched
    new.cancel(running)
    assert [(e.job_id, e.state) for e in new.poll()] == [(1, EndState.CANCELLED)]
    assert new.poll() == []
