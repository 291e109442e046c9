"""`mlrp explain`: why a job waits, its factors, the jobs just ahead of it, and why one
named job runs or is ranked before it — through the real daemon and CLI."""

from __future__ import annotations

import json
from collections.abc import Callable

from integration_support import eventually, wait_reason

from daemon_harness import Daemon


def test_explain_a_waiting_job_and_the_job_ahead_of_it(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # One reservation: the second blocked job waits for Priority, not Resources.
    daemon = daemon_factory("[scheduler]\nreservations = 1\n")
    blocker = daemon.submit("--gpus", "8", "--", "sleep", "60")
    daemon.wait(blocker, {"RUNNING"})
    first = daemon.submit("--gpus", "8", "--", "true")
    second = daemon.submit("--gpus", "8", "--nice", "100", "--", "true")
    wait_reason(daemon, first, "Resources")
    wait_reason(daemon, second, "Priority")

    doc = json.loads(daemon.cli("explain", str(second), "--vs", str(first), "--json").out)
    assert doc["state"] == "PENDING" and doc["reason"] == "Priority"
    assert (doc["position"], doc["pending"]) == (2, 2)
    assert set(doc["factors"]) == {"age", "fairshare", "job_size", "qos", "partition"}
    for f in doc["factors"].values():
        assert abs(f["weighted"] - f["factor"] * f["weight"]) < 0.01
    (ahead,) = doc["ahead"]
    assert ahead["id"] == first and ahead["lead"] == "nice"
    assert doc["versus"]["difference"]["nice"] == 100
    assert "nice +100.0 (it has a lower nice value)" in doc["versus"]["verdict"]

    text = daemon.cli("explain", str(second), "--vs", str(first))
    assert text.code == 0, text.err
    assert "position 2 of 2 pending" in text.out
    assert f"vs job {first} (PENDING): job {first} is ahead by" in text.out
    first_text = daemon.cli("explain", str(first)).out
    assert "waiting: Resources" in first_text and "expected start:" in first_text

    daemon.cli("cancel", str(blocker), str(first), str(second))
    eventually(lambda: daemon.job(blocker)["state"] == "CANCELLED", what="the cancel")


def test_explain_names_a_backfilled_job_as_such(daemon: Daemon) -> None:
    # A long 8-GPU job waits for a 4-GPU one; a short 1-GPU job of lower priority
    # (nice) is backfilled next to it.
    running = daemon.submit("--gpus", "4", "--time", "0:10", "--", "sleep", "60")
    daemon.wait(running, {"RUNNING"})
    top = daemon.submit("--gpus", "8", "--time", "1:00", "--", "true")
    wait_reason(daemon, top, "Resources")
    small = daemon.submit("--gpus", "1", "--time", "0:02", "--nice", "500", "--", "sleep", "30")
    daemon.wait(small, {"RUNNING"})
    out = daemon.cli("explain", str(top), "--vs", str(small)).out
    assert f"job {small} has a lower priority" in out and "was backfilled" in out
    daemon.cli("cancel", str(running), str(top), str(small))


def test_explain_errors_name_the_problem(daemon: Daemon) -> None:
    missing = daemon.cli("explain", "999999")
    assert missing.code == 1 and "no job 999999" in missing.err
    job = daemon.submit("--", "true")
    itself = daemon.cli("explain", str(job), "--vs", str(job))
    assert itself.code == 1 and "--vs names the job itself" in itself.err
    for result in (missing, itself):
        assert "Traceback" not in result.err
