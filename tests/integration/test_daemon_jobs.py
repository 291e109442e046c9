"""A job's life through the real daemon: submit -> run -> end, what `show --json` records,
what the job sees in its environment, its logs, and `mlrp run`'s exit status."""

from __future__ import annotations

import getpass
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from integration_support import listing, log_text, private_daemon, show

from daemon_harness import Daemon

REPORT_ENV = (
    'echo "CVD=$CUDA_VISIBLE_DEVICES"; echo "NVD=$NVIDIA_VISIBLE_DEVICES"; '
    'echo "JOB=$MLRP_JOB_ID"; echo "GPUS=$MLRP_GPUS"; '
    "env | grep '^SLURM' | sed 's/^/ENV:/'; echo END"
)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """One daemon for these tests: each waits for its own jobs."""
    with private_daemon() as shared:
        yield shared


def reported(text: str) -> dict[str, str]:
    """KEY=value lines of REPORT_ENV's output; SLURM variables as 'ENV:NAME'."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def test_completed_job_is_recorded_with_its_gpus_times_and_environment(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Submitting from inside a Slurm allocation must not leak that allocation's variables.
    monkeypatch.setenv("SLURM_JOB_ID", "424242")
    monkeypatch.setenv("SLURM_NTASKS", "16")
    before = time.time()
    job_id = daemon.submit("--gpus", "2", "--job-name", "envcheck", "--", "sh", "-c", REPORT_ENV)
    daemon.wait(job_id)
    after = time.time()

    job = show(daemon, job_id)
    assert job["id"] == job_id
    assert job["state"] == "COMPLETED"
    assert job["exit_code"] == 0
    assert job["user"] == getpass.getuser()
    assert job["account"] == "default"
    assert job["partition"] == "batch"
    assert job["name"] == "envcheck"
    assert job["reason"] == "None"
    gpus = job["gpus"]
    assert len(gpus) == 2 and len(set(gpus)) == 2 and set(gpus) <= set(range(8))
    assert before <= job["submit_time"] <= job["start_time"] <= job["end_time"] <= after

    seen = reported(log_text(daemon, job_id))
    assert "END" in seen, seen
    expected = ",".join(str(g) for g in gpus)
    assert seen["CVD"] == expected
    assert seen["NVD"] == expected
    assert seen["GPUS"] == expected
    assert seen["JOB"] == str(job_id)
    assert not [k for k in seen if k.startswith("ENV:")], "SLURM_* variables leaked into the job"


def test_slurm_env_flag_gives_slurm_variables_of_this_job(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "424242")
    job_id = daemon.submit("--gpus", "1", "--slurm-env", "--", "sh", "-c", REPORT_ENV)
    assert daemon.wait(job_id)["state"] == "COMPLETED"
    seen = reported(log_text(daemon, job_id))
    assert seen["ENV:SLURM_JOB_ID"] == str(job_id)
    assert (
        seen["ENV:SLURM_JOB_GPUS"]
        == seen["CVD"]
        == ",".join(map(str, show(daemon, job_id)["gpus"]))
    )


def test_failing_job_is_failed_with_its_exit_code_and_separate_stderr(daemon: Daemon) -> None:
    job_id = daemon.submit(
        "--gpus", "1", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"
    )
    job = daemon.wait(job_id)
    assert job["state"] == "FAILED"
    assert job["exit_code"] == 3
    assert job["end_time"] >= job["start_time"]

    out = daemon.run_cli("logs", str(job_id))
    assert out.code == 0, out.err
    assert out.out == "to-stdout\n"
    err = daemon.run_cli("logs", str(job_id), "--err")
    assert err.code == 0, err.err
    assert err.out == "to-stderr\n"

    # sacct-like history shows it with its exit code; its GPU is free again.
    (row,) = [r for r in listing(daemon, "history") if r["id"] == job_id]
    assert row["state"] == "FAILED" and row["exit_code"] == 3
    assert all(g["job_id"] is None for g in daemon.client.gpus())


def test_run_streams_output_and_exits_with_the_jobs_code(daemon: Daemon) -> None:
    result = daemon.run_cli("run", "--", "sh", "-c", "echo hi; exit 7")
    assert result.code == 7, result.err
    assert result.out == "hi\n"

    ok = daemon.run_cli("run", "--gpus", "1", "--", "sh", "-c", "echo out; echo err >&2")
    assert ok.code == 0, ok.err
    assert ok.out == "out\n"
    assert "err" in ok.err


def test_logs_follow_streams_until_the_job_ends(daemon: Daemon) -> None:
    job_id = daemon.submit("--", "sh", "-c", "echo first; sleep 0.5; echo second")
    daemon.wait(job_id, {"RUNNING", "COMPLETED"})
    result = daemon.run_cli("logs", "-f", str(job_id))
    assert result.code == 0, result.err
    assert result.out == "first\nsecond\n"
    assert daemon.job(job_id)["state"] == "COMPLETED"


def test_ctrl_c_on_run_cancels_the_job(daemon: Daemon) -> None:
    command = [sys.executable, "-m", "mlrp.cli.main", "run", "--gpus", "1", "--"]
    command += ["sh", "-c", "echo started; sleep 60"]
    env = {**os.environ, "MLRP_HOME": str(daemon.home)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env) as run:  # fmt: skip
        assert run.stdout is not None
        assert read_until(run.stdout.fileno(), b"started\n") == b"started\n"  # the job runs
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 130
    job_id = int(err.decode().split("cancelled job ")[1].split()[0])
    job = daemon.wait(job_id)
    assert job["state"] == "CANCELLED"
    assert all(g["job_id"] is None for g in daemon.client.gpus())


def read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    """Bytes read from `fd` until they contain `wanted` (or it is closed, or time is up)."""
    data = b""
    deadline = time.monotonic() + timeout
    while wanted not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data
