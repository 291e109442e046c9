"""`mlrp queue` and `mlrp history` filters and columns, `mlrp cancel` filters, and
`mlrp hold` / `mlrp release`, against a daemon with three users' jobs."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from integration_support import (
    FAST_GRACE,
    Gate,
    ids_of,
    listing,
    private_daemon,
    show,
    wait_reason,
)

from daemon_harness import Daemon

CONFIG = (
    FAST_GRACE
    + """
[[scheduler.accounts]]
name = "default"

[[scheduler.accounts]]
name = "a"
users = ["u1"]

[[scheduler.accounts]]
name = "b"
users = ["u2"]
"""
)
HEADERS = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS", "NODELIST(REASON)"]


class Lab:
    """Five jobs of three users:

    mine     me, account default, 1 GPU, running
    beta1    u1, account a, held (pending)
    gamma    u2, account b, 2 GPUs, running
    beta2    u2, account b, 8 GPUs, pending (Resources)
    done     me, completed
    """

    def __init__(self, daemon: Daemon, folder: Path) -> None:
        self.daemon = daemon
        self.gates = [Gate(folder, "mine"), Gate(folder, "gamma")]
        self.mine = daemon.submit("-J", "mine", "--gpus", "1", "--", *self.gates[0].command())
        self.beta1 = daemon.submit("--as-user", "u1", "-J", "beta", "--hold", "--", "true")
        self.gamma = daemon.submit(
            "--as-user", "u2", "-J", "gamma", "--gpus", "2", "--", *self.gates[1].command()
        )
        # gamma must start before beta2 is queued: beta2 (larger, so ahead of it) would
        # otherwise hold the GPUs for itself
        daemon.wait(self.mine, {"RUNNING"})
        daemon.wait(self.gamma, {"RUNNING"})
        self.beta2 = daemon.submit("--as-user", "u2", "-J", "beta", "--gpus", "8", "--", "true")
        self.done = daemon.submit("-J", "done", "--", "true")
        daemon.wait(self.done)
        wait_reason(daemon, self.beta1, "JobHeldUser")
        wait_reason(daemon, self.beta2, "Resources")

    def queue_ids(self, *args: str) -> set[int]:
        return ids_of(listing(self.daemon, "queue", *args))


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    """For the tests that only look."""
    with private_daemon(CONFIG) as daemon:
        yield Lab(daemon, daemon.home)


@pytest.fixture
def lab(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> Lab:
    """For the tests that change things."""
    return Lab(daemon_factory(CONFIG), tmp_path)


def test_queue_filters(shared_lab: Lab) -> None:
    lab = shared_lab
    assert lab.queue_ids() == {lab.mine, lab.beta1, lab.gamma, lab.beta2}  # not the ended one
    assert lab.queue_ids("--me") == {lab.mine}
    assert lab.queue_ids("--user", "u2") == {lab.gamma, lab.beta2}
    assert lab.queue_ids("-u", "nobody-at-all") == set()
    assert lab.queue_ids("--state", "PD") == {lab.beta1, lab.beta2}
    assert lab.queue_ids("--state", "running") == {lab.mine, lab.gamma}
    assert lab.queue_ids("-t", "R", "-t", "PD") == lab.queue_ids()
    assert lab.queue_ids("--state", "CD") == {lab.done}
    assert lab.queue_ids("--account", "a") == {lab.beta1}
    assert lab.queue_ids("-A", "b", "--state", "R") == {lab.gamma}
    assert lab.queue_ids("--name", "beta") == {lab.beta1, lab.beta2}
    assert lab.queue_ids("--name", "beta", "--user", "u1") == {lab.beta1}


def test_queue_columns(shared_lab: Lab) -> None:
    lab = shared_lab
    result = lab.daemon.cli("queue")
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split() == HEADERS
    rows = {int(line.split()[0]): line.split() for line in lines}
    assert set(rows) == {lab.mine, lab.beta1, lab.gamma, lab.beta2}
    me = getpass.getuser()
    mine_gpus = ",".join(str(g) for g in show(lab.daemon, lab.mine)["gpus"])
    gamma_gpus = ",".join(str(g) for g in show(lab.daemon, lab.gamma)["gpus"])
    # TIME is M:SS for the running jobs, empty for the pending ones.
    assert rows[lab.mine][:5] == [str(lab.mine), me, "default", "mine", "R"]
    assert rows[lab.mine][6:] == ["1", mine_gpus]
    assert rows[lab.gamma][:5] == [str(lab.gamma), "u2", "b", "gamma", "R"]
    assert rows[lab.gamma][6:] == ["2", gamma_gpus]
    assert rows[lab.beta1] == [str(lab.beta1), "u1", "a", "beta", "PD", "0", "(JobHeldUser)"]
    assert rows[lab.beta2] == [str(lab.beta2), "u2", "b", "beta", "PD", "8", "(Resources)"]
    for job in (lab.mine, lab.gamma):
        minutes, _, seconds = rows[job][5].partition(":")
        assert minutes.isdigit() and len(seconds) == 2 and seconds.isdigit()
    # Running jobs first, as in squeue.
    order = [int(line.split()[0]) for line in lines]
    assert set(order[:2]) == {lab.mine, lab.gamma}


def test_history_since(shared_lab: Lab) -> None:
    lab = shared_lab
    recent = ids_of(listing(lab.daemon, "history", "--since", "1h"))
    assert recent == {lab.mine, lab.beta1, lab.gamma, lab.beta2, lab.done}
    everything = ids_of(listing(lab.daemon, "history", "--since", "2000-01-01"))
    assert everything == recent
    # Jobs that ended before the cut-off are left out; active ones always show.
    future = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 3600))
    assert ids_of(listing(lab.daemon, "history", "--since", future)) == lab.queue_ids()
    done = [r for r in listing(lab.daemon, "history", "--state", "CD", "--since", "1d")]
    assert [(r["id"], r["exit_code"]) for r in done] == [(lab.done, 0)]
    table = lab.daemon.cli("history", "--since", "1h").out.splitlines()
    assert table[0].split() == [
        "JOBID", "USER", "ACCOUNT", "NAME", "STATE", "GPUS", "START", "ELAPSED", "EXITCODE"
    ]  # fmt: skip
    (row,) = [line.split() for line in table[1:] if line.split()[0] == str(lab.done)]
    assert row[4] == "COMPLETED" and row[-1] == "0:0"


def test_cancel_filters(lab: Lab) -> None:
    daemon = lab.daemon
    assert show(daemon, lab.beta2)["expected_start"] is not None  # it had a reservation
    # u2's pending jobs only: gamma (running) stays.
    result = daemon.cli("cancel", "--user", "u2", "--state", "PD")
    assert result.code == 0, result.err
    assert result.out.split() == ["cancelled:", str(lab.beta2)]
    cancelled = daemon.wait(lab.beta2)
    assert cancelled["state"] == "CANCELLED" and cancelled["start_time"] is None
    assert cancelled["expected_start"] is None  # a cancelled job is not expected to start
    assert show(daemon, lab.gamma)["state"] == "RUNNING"
    # By name: the other "beta" (u1's held job).
    result = daemon.cli("cancel", "--name", "beta")
    assert result.out.split() == ["cancelled:", str(lab.beta1)]
    assert daemon.wait(lab.beta1)["state"] == "CANCELLED"
    # Nothing matches: said so, nothing changes.
    result = daemon.cli("cancel", "--name", "beta")
    assert result.code == 0 and result.out == "" and "nothing cancelled" in result.err
    # A running job, by user and state.
    result = daemon.cli("cancel", "--user", "u2", "--state", "R")
    assert result.out.split() == ["cancelled:", str(lab.gamma)]
    assert daemon.wait(lab.gamma)["state"] == "CANCELLED"
    assert lab.queue_ids() == {lab.mine}
    assert show(daemon, lab.done)["state"] == "COMPLETED"


def test_hold_and_release(lab: Lab) -> None:
    daemon = lab.daemon
    # Hold a pending job: it no longer waits for resources but for its owner.
    result = daemon.cli("hold", str(lab.beta2))
    assert result.code == 0 and result.out.split() == ["held:", str(lab.beta2)]
    job = wait_reason(daemon, lab.beta2, "JobHeldUser")
    assert job["held"] is True
    # A running job cannot be held.
    refused = daemon.cli("hold", str(lab.mine))
    assert refused.code == 1 and "only pending jobs" in refused.err
    assert show(daemon, lab.mine)["state"] == "RUNNING"
    # Released, both wait for GPUs again and run once they are free.
    result = daemon.cli("release", str(lab.beta1), str(lab.beta2))
    assert result.code == 0, result.err
    assert set(result.out.split()[1:]) == {str(lab.beta1), str(lab.beta2)}
    assert daemon.wait(lab.beta1)["state"] == "COMPLETED"  # needs no GPU
    wait_reason(daemon, lab.beta2, "Resources")
    for gate in lab.gates:
        gate.open()
    done = daemon.wait(lab.beta2)
    assert done["state"] == "COMPLETED" and len(done["gpus"]) == 8
