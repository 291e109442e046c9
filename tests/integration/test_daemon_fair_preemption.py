"""Fair-share preemption through the real daemon (8 simulated GPUs, two accounts of
equal shares): while u1 (account a) holds every GPU, a job of u2 (account b, nothing
running) stops u1's youngest job, which gets its grace signal, is requeued with its id,
and resumes with MLRP_RESTART_COUNT=1 once GPUs free up; u1's older job keeps running.
Jobs that would leave a below b are never taken."""

from __future__ import annotations

from collections.abc import Callable

from integration_support import RESUMABLE, eventually, log_text, show, wait_reason

from daemon_harness import Daemon

CONFIG = """
[daemon]
grace = 1

[[scheduler.accounts]]
name = "a"
users = ["u1"]

[[scheduler.accounts]]
name = "b"
users = ["u2"]
"""


def test_account_below_its_share_takes_back_gpus_from_the_youngest_job(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = daemon_factory(CONFIG)
    older = daemon.submit("--as-user", "u1", "--gpus", "4", "--", "sh", "-c", RESUMABLE)
    daemon.wait(older, {"RUNNING"})
    younger = daemon.submit("--as-user", "u1", "--gpus", "4", "--", "sh", "-c", RESUMABLE)
    daemon.wait(younger, {"RUNNING"})
    eventually(lambda: "start 0" in log_text(daemon, younger), what="the younger job's start")

    theirs = daemon.submit("--as-user", "u2", "--gpus", "4", "--time", "0:10", "--", "sleep", "2")
    running = daemon.wait(theirs, {"RUNNING"})
    assert "got TERM" in log_text(daemon, younger)  # the grace signal reached it
    requeued = show(daemon, younger)
    assert requeued["state"] == "PENDING" and requeued["id"] == younger
    assert f"requeued after preemption by job {theirs} (fair share)" in (requeued["message"] or "")
    assert show(daemon, older)["state"] == "RUNNING"  # more work to lose: kept
    assert set(running["gpus"]) == set(daemon.job(older)["gpus"]) ^ set(range(8))

    # b's job done, u1's job resumes where b's was, with its restart count.
    assert daemon.wait(theirs)["state"] == "COMPLETED"
    daemon.wait(younger, {"RUNNING"})
    eventually(lambda: "start 1" in log_text(daemon, younger), what="the requeued job's restart")
    assert daemon.cli("cancel", str(older), str(younger)).code == 0


def test_a_job_that_would_leave_the_other_account_below_waits(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = daemon_factory(CONFIG)
    whole = daemon.submit("--as-user", "u1", "--gpus", "8", "--", "sleep", "300")
    daemon.wait(whole, {"RUNNING"})
    theirs = daemon.submit("--as-user", "u2", "--gpus", "4", "--", "true")
    wait_reason(daemon, theirs, "Resources")
    assert show(daemon, whole)["state"] == "RUNNING"
    assert daemon.cli("cancel", str(whole)).code == 0
    assert daemon.wait(theirs)["state"] == "COMPLETED"


def test_the_preemptor_waits_with_reason_preempting_while_its_victim_stops(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = daemon_factory(CONFIG.replace("grace = 1", "grace = 5"))
    older = daemon.submit("--as-user", "u1", "--gpus", "4", "--", "sleep", "600")
    daemon.wait(older, {"RUNNING"})
    # ignores its grace signal: stops only when killed, 5 s later
    stubborn = daemon.submit("--as-user", "u1", "--gpus", "4", "--", "sh", "-c",
                             "trap '' TERM; while true; do sleep 0.1; done")  # fmt: skip
    daemon.wait(stubborn, {"RUNNING"})

    theirs = daemon.submit("--as-user", "u2", "--gpus", "4", "--", "true")
    waiting = wait_reason(daemon, theirs, "Preempting")
    assert waiting["state"] == "PENDING"
    assert show(daemon, stubborn)["state"] == "RUNNING"  # still within its grace time
    assert daemon.wait(theirs)["state"] == "COMPLETED"
    assert daemon.cli("cancel", str(older), str(stubborn)).code == 0
