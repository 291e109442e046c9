"""One contract, two backends: the same behaviours through the same CLI on a local
daemon and on a Slurm-mode daemon driving the real test cluster.

Each test runs once per backend (the `backend` fixture); what differs between them
(Slurm rounds time limits up to minutes, and checks them every 30 s or so) changes how
long a test waits, never what it asserts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slurm_support import eventually, running_daemon, wait_state

from daemon_harness import Daemon

FAST_GRACE = "[daemon]\ngrace = 1\n"


@dataclass
class Backend:
    kind: str
    daemon: Daemon
    workdir: Path  # every job runs here (so that Slurm's output files land in it)
    timeout_job: int  # submitted first, checked last: Slurm needs up to ~90 s for it

    def submit(self, *args: str) -> int:
        result = self.daemon.cli("submit", "--parsable", f"--chdir={self.workdir}", *args)
        assert result.code == 0, result.err
        return int(result.out.strip().split("_")[0])

    def cli(self, *args: str) -> Any:
        return self.daemon.cli(*args)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.daemon.job(job_id)

    def wait(self, job_id: int, states: set[str] | None = None) -> dict[str, Any]:
        return wait_state(self.daemon, job_id, states)


@pytest.fixture(scope="module", params=["local", "slurm"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    workdir = Path(tempfile.mkdtemp(prefix="mlrp-contract-", dir="/tmp"))
    workdir.chmod(0o777)
    try:
        if request.param == "local":
            with running_daemon(FAST_GRACE) as daemon:
                yield _backend("local", daemon, workdir)
        else:
            yield _backend("slurm", request.getfixturevalue("slurm_daemon"), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _backend(kind: str, daemon: Daemon, workdir: Path) -> Backend:
    probe = Backend(kind, daemon, workdir, 0)
    probe.timeout_job = probe.submit("--time=0:05", "-J", "timeout", "--", "sleep", "300")
    return probe


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# ----------------------------------------------------------------------------- tests


def test_a_command_runs_and_its_streams_reach_the_logs(backend: Backend) -> None:
    job_id = backend.submit(
        "-o", "out-%j.txt", "-e", "err-%j.txt", "--", "sh", "-c", "echo to-out; echo to-err >&2"
    )
    job = backend.wait(job_id)
    assert (job["state"], job["exit_code"]) == ("COMPLETED", 0)
    assert backend.daemon.run_cli("logs", str(job_id)).out == "to-out\n"
    assert backend.daemon.run_cli("logs", "--err", str(job_id)).out == "to-err\n"
    assert read(backend.workdir / f"out-{job_id}.txt") == "to-out\n"


def test_an_exit_code_is_reported_as_a_failure(backend: Backend) -> None:
    job_id = backend.submit("--", "sh", "-c", "exit 3")
    job = backend.wait(job_id)
    assert (job["state"], job["exit_code"]) == ("FAILED", 3)
    history = json.loads(backend.cli("history", "--json").out)
    assert any(row["id"] == job_id and row["exit_code"] == 3 for row in history)


def test_a_running_job_can_be_cancelled(backend: Backend) -> None:
    job_id = backend.submit("--", "sleep", "300")
    backend.wait(job_id, {"RUNNING"})
    result = backend.cli("cancel", str(job_id))
    assert result.code == 0 and str(job_id) in result.out, result.err
    assert backend.wait(job_id)["state"] == "CANCELLED"


def test_a_held_job_waits_until_released(backend: Backend) -> None:
    job_id = backend.submit("--hold", "--", "true")
    held = eventually(
        lambda: (job := backend.job(job_id))["reason"] == "JobHeldUser" and job,
        what="the hold to show",
    )
    assert held["state"] == "PENDING"
    queue = json.loads(backend.cli("queue", "--json").out)
    assert [row["held"] for row in queue if row["id"] == job_id] == [True]
    assert backend.cli("release", str(job_id)).code == 0
    assert backend.wait(job_id)["state"] == "COMPLETED"


def test_a_pending_job_can_be_cancelled(backend: Backend) -> None:
    job_id = backend.submit("--hold", "--", "true")
    assert backend.cli("cancel", str(job_id)).code == 0
    assert backend.wait(job_id)["state"] == "CANCELLED"


def test_array_tasks_have_their_own_ids_and_indices(backend: Backend) -> None:
    array_id = backend.submit(
        "--array=0-2", "--slurm-env", "-o", "arr-%A_%a.txt", "--",
        "sh", "-c", "echo $SLURM_ARRAY_TASK_ID",
    )  # fmt: skip
    rows = eventually(
        lambda: [r for r in _all_rows(backend) if r["array_job_id"] == array_id],
        what="the tasks to be listed",
    )
    assert sorted(r["display_id"] for r in rows) == [f"{array_id}_{i}" for i in range(3)]
    for row in rows:
        assert backend.wait(int(row["id"]))["state"] == "COMPLETED"
    eventually(lambda: all(r["state"] == "COMPLETED" for r in _tasks(backend, array_id)))
    for index in range(3):
        assert read(backend.workdir / f"arr-{array_id}_{index}.txt") == f"{index}\n"


def test_a_dependent_job_starts_after_its_dependency_succeeds(backend: Backend) -> None:
    first = backend.submit("--", "sleep", "2")
    second = backend.submit(f"--dependency=afterok:{first}", "--", "true")
    assert backend.job(second)["state"] == "PENDING"
    done = backend.wait(second)
    assert done["state"] == "COMPLETED"
    assert done["start_time"] >= backend.job(first)["end_time"]


def test_a_dependency_that_failed_is_never_satisfied(backend: Backend) -> None:
    failing = backend.submit("--", "false")
    waiting = backend.submit(f"--dependency=afterok:{failing}", "--", "true")
    assert backend.wait(failing)["state"] == "FAILED"
    eventually(
        lambda: backend.job(waiting)["reason"] == "DependencyNeverSatisfied",
        what="the dependency to be seen as never satisfied",
    )
    assert backend.job(waiting)["state"] == "PENDING"
    backend.cli("cancel", str(waiting))


def test_listings_have_the_same_columns(backend: Backend) -> None:
    job_id = backend.submit("--hold", "-J", "columns", "--", "true")
    row = eventually(lambda: [r for r in _all_rows(backend) if r["id"] == job_id])[0]
    assert set(row) >= LOCAL_ROW_KEYS
    assert (row["name"], row["display_id"], row["state"]) == ("columns", str(job_id), "PENDING")
    table = backend.cli("queue").out.splitlines()
    assert table[0].split() == ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS",
                                "NODELIST(REASON)"]  # fmt: skip
    assert any(line.split()[0] == str(job_id) and "PD" in line.split() for line in table[1:])
    shown = backend.job(job_id)
    assert set(shown) >= LOCAL_DETAIL_KEYS and shown["spec"]["name"] == "columns"
    backend.cli("cancel", str(job_id))


def test_multi_node_jobs(backend: Backend) -> None:
    """The local backend runs jobs on one machine and says so; Slurm runs them."""
    args = ("-N", "2", "--ntasks-per-node=2", "--", "sh", "-c", "echo $RANK")
    if backend.kind == "local":
        result = backend.cli("submit", f"--chdir={backend.workdir}", *args)
        assert result.code == 1 and "Traceback" not in result.err
        assert "multi-node jobs need the Slurm backend" in result.err
        return
    job_id = backend.submit("-o", "ranks-%j.txt", *args)
    assert backend.wait(job_id)["state"] == "COMPLETED"
    ranks = read(backend.workdir / f"ranks-{job_id}.txt").split()
    assert sorted(ranks) == ["0", "1", "2", "3"]


def test_a_job_past_its_time_limit_times_out(backend: Backend) -> None:
    """Submitted when the backend started (Slurm rounds 5 s up to a minute and checks
    limits every half minute), so the wait overlaps the tests above."""
    job = wait_state(backend.daemon, backend.timeout_job, timeout=240)
    assert job["state"] == "TIMEOUT"


# ---------------------------------------------------------------------------- helpers

LOCAL_ROW_KEYS = {
    "id", "array_job_id", "array_task_id", "name", "user", "account", "partition", "qos",
    "state", "reason", "gpu_count", "submit_time", "start_time", "end_time", "time_limit",
    "priority", "expected_start", "exit_code", "exit_signal", "held", "gpus", "display_id",
}  # fmt: skip
LOCAL_DETAIL_KEYS = {
    "id", "display_id", "name", "user", "uid", "account", "partition", "qos", "state",
    "reason", "reason_text", "held", "spec", "gpus", "gpu_count", "submit_time",
    "start_time", "end_time", "time_limit", "exit_code", "exit_signal", "priority",
    "priority_factors", "priority_weighted", "expected_start", "restart_count", "message",
    "stdout_path", "stderr_path",
}  # fmt: skip


def _all_rows(backend: Backend) -> list[dict[str, Any]]:
    result = backend.cli("queue", "--json", "-t", "PD,R,CD,F,CA,TO")
    assert result.code == 0, result.err
    rows: list[dict[str, Any]] = json.loads(result.out)
    return rows


def _tasks(backend: Backend, array_id: int) -> list[dict[str, Any]]:
    return [r for r in _all_rows(backend) if r["array_job_id"] == array_id]
