"""`mlrp queue`'s table from the store's queue rows (only the columns it shows), against
the table built from the JSON listing as before; `--json` keeps its fields."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import FAST_GRACE, Gate, eventually, private_daemon
from test_daemon_queue_table import cli_table_before

from daemon_harness import Daemon

JSON_FIELDS = {
    "id", "array_job_id", "array_task_id", "name", "user", "account", "partition", "qos",
    "state", "reason", "gpu_count", "submit_time", "start_time", "end_time", "time_limit",
    "priority", "expected_start", "exit_code", "exit_signal", "held", "gpus", "display_id",
}  # fmt: skip


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon(FAST_GRACE) as shared:
        yield shared


def test_running_jobs_with_and_without_gpus_arrays_and_held_ones(
    daemon: Daemon, tmp_path: Path
) -> None:
    gates = [Gate(tmp_path, "none"), Gate(tmp_path, "two")]
    no_gpu = daemon.submit("--gpus", "0", "-J", "cpu-only", "--", *gates[0].command())
    two = daemon.submit("--gpus", "2", "-J", "two", "--", *gates[1].command())
    daemon.submit("--hold", "--array", "0-4", "-J", "held-array", "--", "true")
    daemon.submit("--hold", "--as-user", "other", "-J", "x" * 40, "--", "true")
    try:
        for job_id in (no_gpu, two):
            daemon.wait(job_id, {"RUNNING"})
        rows = daemon.client.jobs()
        assert {r["gpus"] == [] for r in rows if r["state"] == "RUNNING"} == {True, False}
        assert all(set(row) == JSON_FIELDS for row in rows)
        for args in ([], ["-u", "other"], ["-t", "R"], ["--name", "held-array"]):

            def same(args: list[str] = args) -> bool:
                user = args[1] if args[:1] == ["-u"] else None
                states = ["RUNNING"] if args[:1] == ["-t"] else None
                name = args[1] if args[:1] == ["--name"] else None
                listed = daemon.client.jobs(states=states, user=user, name=name)
                before = cli_table_before(listed, time.time())
                result = daemon.cli("queue", *args)
                assert result.code == 0, result.err
                return result.out == before

            eventually(same, timeout=10, what=f"the same table for queue {args}")
        running = {
            line.split()[0]: line.split()
            for line in daemon.cli("queue", "-t", "R").out.splitlines()[1:]
        }
        assert running[str(no_gpu)][-1] == "0"  # GPUS 0, and no GPU list after it
        gpus = ",".join(str(g) for g in daemon.job(two)["gpus"])
        assert running[str(two)][-2:] == ["2", gpus]
    finally:
        for gate in gates:
            gate.open()
        daemon.client.cancel([], states=["PENDING", "RUNNING"])
