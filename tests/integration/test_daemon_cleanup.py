"""Whatever a job started is gone when it ends: cancelled, timed out, or finished with
children still running in the background (setsid'd ones and TERM-ignoring ones too)."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
from integration_support import (
    FAST_GRACE,
    eventually,
    log_text,
    private_daemon,
    sleeps_alive,
    unique_number,
)

from daemon_harness import Daemon


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """One daemon for these tests, with a 1 s grace before SIGKILL."""
    with private_daemon(FAST_GRACE) as shared:
        yield shared


def tree_command(n: int) -> list[str]:
    """A job whose process tree has a background child, a child in its own session, a
    child that ignores SIGTERM, and a foreground child: sleeps n .. n+3."""
    return [
        "bash",
        "-c",
        f"sleep {n} & setsid sleep {n + 1} & (trap '' TERM; exec sleep {n + 2}) & sleep {n + 3}",
    ]


def test_cancel_kills_the_whole_process_tree(daemon: Daemon) -> None:
    n = unique_number()
    durations = (n, n + 1, n + 2, n + 3)
    job_id = daemon.submit("--gpus", "1", "--", *tree_command(n))
    daemon.wait(job_id, {"RUNNING"})
    eventually(lambda: len(sleeps_alive(*durations)) == 4, what="the job's four sleeps")

    result = daemon.cli("cancel", str(job_id))
    assert result.code == 0, result.err
    job = daemon.wait(job_id)
    assert job["state"] == "CANCELLED"
    assert sleeps_alive(*durations) == []
    assert all(g["job_id"] is None for g in daemon.client.gpus())


def test_time_limit_kills_the_whole_process_tree(daemon: Daemon) -> None:
    n = unique_number()
    durations = (n, n + 1, n + 2, n + 3)
    job_id = daemon.submit("--gpus", "2", "--time", "0:02", "--", *tree_command(n))
    daemon.wait(job_id, {"RUNNING"})
    eventually(lambda: len(sleeps_alive(*durations)) == 4, what="the job's four sleeps")

    job = daemon.wait(job_id)
    assert job["state"] == "TIMEOUT"
    assert job["time_limit"] == 2
    assert job["end_time"] - job["start_time"] >= 1.9  # not killed before its limit
    assert sleeps_alive(*durations) == []


def test_finished_job_leaves_no_background_child(daemon: Daemon) -> None:
    n = unique_number()
    script = f'setsid sleep {n} & echo "pid $!"; sleep {n + 1} & echo "pid $!"; echo done'
    job_id = daemon.submit("--", "bash", "-c", script)
    job = daemon.wait(job_id)
    assert job["state"] == "COMPLETED" and job["exit_code"] == 0

    out = log_text(daemon, job_id)
    pids = [int(line.split()[1]) for line in out.splitlines() if line.startswith("pid ")]
    assert len(pids) == 2 and "done" in out
    assert sleeps_alive(n, n + 1) == []
    for pid in pids:  # the very processes it started are gone (or someone else's now)
        if psutil.pid_exists(pid):
            try:
                args = psutil.Process(pid).cmdline()
            except psutil.Error:
                continue
            assert args[-1:] not in ([str(n)], [str(n + 1)]), args
