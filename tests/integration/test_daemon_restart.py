"""Jobs outlive the daemon: after `kill -9` a new daemon on the same home adopts the jobs
still running, records the ones that ended meanwhile with their real exit codes, and
keeps the adopted jobs' GPUs held."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from integration_support import Gate, log_text, show, wait_reason

from daemon_harness import Daemon
from mlrp.paths import pid_path


def test_kill_9_and_restart_adopts_running_jobs_and_records_ends(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = daemon_factory()
    across, ends_while_down = Gate(tmp_path, "across"), Gate(tmp_path, "down")
    long_id = first.submit("--gpus", "2", "--", *across.command(code=0))
    down_id = first.submit("--gpus", "1", "--", *ends_while_down.command(code=5))
    long_before = first.wait(long_id, {"RUNNING"})
    first.wait(down_id, {"RUNNING"})
    ends_while_down.pid()
    # Queued before the crash: it needs 7 GPUs, so it may only run once the adopted
    # job's GPUs are really free.
    big = first.submit("--gpus", "7", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES")
    wait_reason(first, big, "Resources")

    first.kill()  # SIGKILL: no chance to tidy up

    # While no daemon runs, one job ends with exit code 5; the other keeps running.
    ends_while_down.open_and_wait_exit()

    second = daemon_factory()
    down = second.wait(down_id)
    assert down["state"] == "FAILED"
    assert down["exit_code"] == 5  # its real code, not a guess such as NODE_FAIL

    adopted = show(second, long_id)
    assert adopted["state"] == "RUNNING"
    assert adopted["gpus"] == long_before["gpus"]
    assert adopted["start_time"] == long_before["start_time"]
    held = {g["index"]: g["job_id"] for g in second.client.gpus()}
    assert all(held[g] == long_id for g in adopted["gpus"])
    assert [i for i, job in held.items() if job is not None] == sorted(adopted["gpus"])

    # The adopted job's GPUs are not given to anyone else meanwhile: a short job may
    # use the six free ones (backfilled ahead of the 7-GPU job), the 7-GPU job waits.
    six = second.submit("--gpus", "6", "--time", "1:00", "--", "sleep", "30")
    six_running = second.wait(six, {"RUNNING"})
    assert not set(six_running["gpus"]) & set(adopted["gpus"])
    waiting = show(second, big)
    assert waiting["state"] == "PENDING" and waiting["gpus"] == []

    # The adopted job ends normally and is recorded by the new daemon.
    across.open()
    done = second.wait(long_id)
    assert done["state"] == "COMPLETED" and done["exit_code"] == 0
    assert second.cli("cancel", str(six)).code == 0
    six_done = second.wait(six)
    assert six_done["state"] == "CANCELLED"
    started = second.wait(big)
    assert started["state"] == "COMPLETED" and len(started["gpus"]) == 7
    assert started["start_time"] >= max(done["end_time"], six_done["end_time"])
    assert log_text(second, big).strip() == ",".join(str(g) for g in started["gpus"])


def test_job_ending_while_daemon_is_down_after_a_clean_stop(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """`mlrp down` leaves jobs running; those that end before the next start are
    recorded as they ended: completed, failed with their exit codes, timed out."""
    first = daemon_factory()
    ok_gate, bad_gate = Gate(tmp_path, "ok"), Gate(tmp_path, "bad")
    late_gate = Gate(tmp_path, "late")  # never opened: its time limit ends it
    ok_id = first.submit("--", *ok_gate.command(code=0))
    bad_id = first.submit("--gpus", "4", "--", *bad_gate.command(code=42))
    late_id = first.submit("--gpus", "1", "--time", "0:02", "--", *late_gate.command())
    for job_id in (ok_id, bad_id, late_id):
        first.wait(job_id, {"RUNNING"})
    late_pid = late_gate.pid()
    result = first.cli("down")
    assert result.code == 0, result.err
    assert first.process is not None
    first.process.wait(timeout=30)
    assert show_offline_is_refused(first)

    ok_gate.open_and_wait_exit()
    bad_gate.open_and_wait_exit()
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(late_pid).wait(timeout=30)  # the supervisor enforces the limit alone
    second = daemon_factory()
    assert second.wait(ok_id)["state"] == "COMPLETED"
    bad = second.wait(bad_id)
    assert bad["state"] == "FAILED" and bad["exit_code"] == 42
    late = second.wait(late_id)
    assert late["state"] == "TIMEOUT" and late["end_time"] - late["start_time"] >= 1.9
    assert all(g["job_id"] is None for g in second.client.gpus())


def show_offline_is_refused(daemon: Daemon) -> bool:
    """With no daemon, a CLI call fails cleanly (exit 1, one line, no traceback)."""
    result = daemon.run_cli("queue")
    return (
        result.code == 1
        and "Traceback" not in result.err
        and len(result.err.strip().splitlines()) == 1
    )


def test_sigterm_stops_the_daemon_cleanly_and_its_jobs_keep_running(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """As a service manager stops it: exit status 0, no stale socket or pid file; the
    jobs go on and the next daemon adopts them."""
    first = daemon_factory()
    gate = Gate(tmp_path, "survivor")
    job_id = first.submit("--gpus", "1", "--", *gate.command(code=0))
    first.wait(job_id, {"RUNNING"})
    job_pid = gate.pid()

    first.kill(signal.SIGTERM)
    assert first.process is not None and first.process.returncode == 0, first.log()
    assert not Path(first.socket).exists()
    assert not pid_path(first.home).exists()
    assert psutil.pid_exists(job_pid) and psutil.Process(job_pid).status() != "zombie"

    second = daemon_factory()
    assert show(second, job_id)["state"] == "RUNNING"
    gate.open()
    assert second.wait(job_id)["state"] == "COMPLETED"


def test_requeue_job_whose_supervisor_died_runs_again_with_restart_count(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """A --requeue job that lost its supervisor while the daemon was down (NODE_FAIL)
    goes back to the queue under the same id and runs again, told its restart count."""
    first = daemon_factory()
    out = tmp_path / "restarts.txt"
    script = f'echo "run $MLRP_RESTART_COUNT" >> {out}; [ "$MLRP_RESTART_COUNT" = 1 ] || sleep 60'
    job_id = first.submit("--requeue", "--gpus", "1", "--", "sh", "-c", script)
    first.wait(job_id, {"RUNNING"})
    info = first.home / "supervisors" / str(job_id) / "supervisor.json"
    deadline = time.monotonic() + 10  # written by the supervisor just after its fork
    while not (info.exists() and out.exists()) and time.monotonic() < deadline:
        time.sleep(0.02)
    supervisor = json.loads(info.read_text())["pid"]
    first.kill()
    psutil.Process(supervisor).kill()  # the job's main process dies with it (PDEATHSIG)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(supervisor).wait(timeout=10)

    second = daemon_factory()
    done = second.wait(job_id)
    assert done["state"] == "COMPLETED"
    assert done["restart_count"] == 1
    assert out.read_text().splitlines() == ["run 0", "run 1"]
