"""QOS preemption through the real daemon (8 simulated GPUs; every job here takes all of
them): a scavenger job in the way of a normal job
gets its grace signal, is requeued with its id kept, and restarts with
MLRP_RESTART_COUNT set once the GPUs are free again; a QOS with preempt_mode "cancel"
ends PREEMPTED instead; jobs of the same QOS never preempt each other. Also the QOS
limit on pending jobs per user, refused at submit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import (
    RESUMABLE,
    eventually,
    log_text,
    private_daemon,
    show,
    wait_reason,
)

from daemon_harness import Daemon

CONFIG = """
[daemon]
grace = 1

[[scheduler.qos]]
name = "normal"
preempt = ["scavenger", "spot"]

[[scheduler.qos]]
name = "scavenger"
usage_factor = 0.25

[[scheduler.qos]]
name = "spot"
preempt_mode = "cancel"

[[scheduler.qos]]
name = "limited"
max_pending_per_user = 2
"""


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon(CONFIG) as shared:
        yield shared


def test_scavenger_job_is_requeued_for_a_normal_job_and_resumes(daemon: Daemon) -> None:
    victim = daemon.submit("--qos", "scavenger", "--gpus", "8", "--", "sh", "-c", RESUMABLE)
    daemon.wait(victim, {"RUNNING"})
    eventually(lambda: "start 0" in log_text(daemon, victim), what="the victim's first start")

    urgent = daemon.submit("--gpus", "8", "--time", "0:10", "--", "sh", "-c", "sleep 1")
    running = daemon.wait(urgent, {"RUNNING"})
    requeued = show(daemon, victim)
    assert requeued["state"] in {"PENDING", "RUNNING"} and requeued["id"] == victim
    assert "got TERM" in log_text(daemon, victim)  # the grace signal reached it

    # It restarts once the normal job is done, with its restart count.
    daemon.wait(urgent)
    daemon.wait(victim, {"RUNNING"})
    eventually(lambda: "start 1" in log_text(daemon, victim), what="the victim's restart")
    again = show(daemon, victim)
    assert again["start_time"] >= show(daemon, urgent)["end_time"]
    assert set(again["gpus"]) == set(running["gpus"])
    daemon.cli("cancel", str(victim))
    daemon.wait(victim)


def test_cancel_mode_ends_the_victim_preempted(daemon: Daemon) -> None:
    victim = daemon.submit("--qos", "spot", "--gpus", "8", "--", "sh", "-c", RESUMABLE)
    daemon.wait(victim, {"RUNNING"})
    urgent = daemon.submit("--gpus", "1", "--", "true")
    assert daemon.wait(urgent)["state"] == "COMPLETED"
    ended = daemon.wait(victim)
    assert ended["state"] == "PREEMPTED"
    assert f"preempted by job {urgent} (QOS)" in (show(daemon, victim)["message"] or "")


def test_jobs_of_the_same_qos_never_preempt_each_other(daemon: Daemon, tmp_path: Path) -> None:
    first = daemon.submit("--gpus", "8", "--", "sleep", "30")
    daemon.wait(first, {"RUNNING"})
    second = daemon.submit("--gpus", "8", "--", "true")
    wait_reason(daemon, second, "Resources")
    assert show(daemon, first)["state"] == "RUNNING"
    daemon.cli("cancel", str(first))
    assert daemon.wait(second)["state"] == "COMPLETED"


def test_qos_pending_limit_refuses_at_submit_and_keeps_what_was_accepted(daemon: Daemon) -> None:
    blocker = daemon.submit("--gpus", "8", "--", "sleep", "30")
    daemon.wait(blocker, {"RUNNING"})
    accepted = [daemon.submit("--qos", "limited", "--gpus", "1", "--", "true") for _ in range(2)]
    refused = daemon.cli("submit", "--qos", "limited", "--gpus", "1", "--", "true")
    assert refused.code == 1
    assert "QOS 'limited' allows 2 pending jobs per user" in refused.err
    assert "Traceback" not in refused.err
    array = daemon.cli("submit", "--qos", "limited", "--gpus", "1", "--array", "0-3", "--", "true")
    assert array.code == 1 and "this submission adds 4" in array.err
    assert [daemon.job(j)["state"] for j in accepted] == ["PENDING", "PENDING"]
    daemon.cli("cancel", str(blocker))
    for job in accepted:
        assert daemon.wait(job)["state"] == "COMPLETED"
