"""Gang starts (all of a job's GPUs at once, or none) and EASY backfill (a short job
may use idle GPUs now, but never so as to delay the top job's reservation)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import FAST_GRACE, Gate, log_text, private_daemon, show, wait_reason

from daemon_harness import Daemon


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """One daemon for both tests (each leaves every GPU free), 1 s grace before SIGKILL."""
    with private_daemon(FAST_GRACE) as shared:
        yield shared


def held_by(daemon: Daemon) -> dict[int, int | None]:
    return {g["index"]: g["job_id"] for g in daemon.client.gpus()}


def test_gang_job_waits_for_all_its_gpus_then_starts_with_all_at_once(
    daemon: Daemon, tmp_path: Path
) -> None:
    gate = Gate(tmp_path, "five")
    five = daemon.submit("--gpus", "5", "--", *gate.command())
    daemon.wait(five, {"RUNNING"})

    four = daemon.submit("--gpus", "4", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
    pending = wait_reason(daemon, four, "Resources")
    assert pending["gpus"] == [] and pending["start_time"] is None
    holders = held_by(daemon)
    assert list(holders.values()).count(None) == 3  # three GPUs stay idle
    assert four not in holders.values()
    queue = daemon.cli("queue").out
    (row,) = [line for line in queue.splitlines() if line.split()[0] == str(four)]
    assert row.split()[4] == "PD" and row.endswith("(Resources)")

    gate.open()
    job = daemon.wait(four)
    assert job["state"] == "COMPLETED"
    assert len(job["gpus"]) == 4 and len(set(job["gpus"])) == 4
    assert log_text(daemon, four).strip() == ",".join(str(g) for g in job["gpus"])
    assert job["start_time"] >= show(daemon, five)["end_time"]


def test_backfill_uses_idle_gpus_without_delaying_the_top_job(daemon: Daemon) -> None:
    # 4 GPUs busy until its 6 s limit; the 8-GPU job must wait for it.
    long = daemon.submit("--gpus", "4", "--time", "0:06", "--", "sleep", "300")
    long_job = daemon.wait(long, {"RUNNING"})
    top = daemon.submit("--gpus", "8", "--time", "0:30", "--", "echo", "top")
    reserved = wait_reason(daemon, top, "Resources")
    expected = reserved["expected_start"]
    assert expected is not None
    assert abs(expected - (long_job["start_time"] + 6)) < 1.5

    # `mlrp queue --start` shows the reservation.
    queue = daemon.cli("queue", "--start")
    assert queue.code == 0, queue.err
    header, *rows = queue.out.splitlines()
    assert "START_TIME" in header.split()
    (row,) = [r for r in rows if r.split()[0] == str(top)]
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(expected)) in row

    # A short job ending before the reservation starts now, on the idle GPUs...
    short = daemon.submit("--gpus", "2", "--time", "0:01", "--", "sleep", "0.3")
    short_job = daemon.wait(short, {"RUNNING", "COMPLETED"})
    assert not set(short_job["gpus"]) & set(long_job["gpus"])
    # ...a long one-GPU job would still run at the reservation: it waits, though a GPU
    # is idle.
    blocker = daemon.submit("--gpus", "1", "--time", "10:00", "--", "echo", "late")
    waiting = eventually_pending_reason(daemon, blocker)
    assert waiting["reason"] in {"Priority", "Resources"}
    assert waiting["gpus"] == []

    top_job = daemon.wait(top, timeout=60)
    assert top_job["state"] == "COMPLETED" and len(top_job["gpus"]) == 8
    assert top_job["start_time"] <= expected + 5  # not delayed by the backfilled job
    assert daemon.wait(short)["end_time"] <= top_job["start_time"]
    assert daemon.wait(long)["state"] == "TIMEOUT"
    late = daemon.wait(blocker, timeout=60)
    assert late["state"] == "COMPLETED"
    assert late["start_time"] >= top_job["end_time"]


def eventually_pending_reason(daemon: Daemon, job_id: int) -> dict[str, object]:
    """The job after a scheduling pass has given it a reason (still pending)."""
    for _ in range(600):
        job = show(daemon, job_id)
        assert job["state"] == "PENDING", job
        if job["reason"] != "None":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never got a pending reason")
