"""Fair share between two accounts of equal shares: once u1 (account a) has used the
machine, a job of u2 (account b, no usage) goes before u1's next job, even though
u1's was queued first."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from integration_support import Gate, eventually, show

from daemon_harness import Daemon

CONFIG = """
[daemon]
grace = 1

[scheduler]
half_life = 30
fairshare_preemption = false  # here only the order of the queue is under test

[[scheduler.accounts]]
name = "a"
shares = 1
users = ["u1"]

[[scheduler.accounts]]
name = "b"
shares = 1
users = ["u2"]
"""


def usage_by_user(daemon: Daemon) -> dict[str, float]:
    result = daemon.cli("share", "--json")
    assert result.code == 0, result.err
    return {row["user"]: row["raw_usage"] for row in json.loads(result.out) if row["user"]}


def test_user_without_usage_goes_first(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(CONFIG)
    # u1 fills the machine: 7 GPUs for a long time, 1 GPU until the test opens the gate.
    gate = Gate(tmp_path, "one-gpu")
    big = daemon.submit("--as-user", "u1", "--gpus", "7", "--", "sleep", "300")
    small = daemon.submit("--as-user", "u1", "--gpus", "1", "--", *gate.command())
    for job_id in (big, small):
        job = daemon.wait(job_id, {"RUNNING"})
        assert (job["user"], job["account"]) == ("u1", "a")
    eventually(lambda: usage_by_user(daemon).get("u1", 0) > 0, what="u1's usage to accrue")

    # Both queue while the GPUs are busy; u1's job first.
    u1_job = daemon.submit("--as-user", "u1", "--gpus", "1", "--", "sleep", "0.5")
    u2_job = daemon.submit("--as-user", "u2", "--gpus", "1", "--", "sleep", "0.5")
    assert show(daemon, u2_job)["account"] == "b"

    def ranked() -> bool:
        first, second = show(daemon, u2_job), show(daemon, u1_job)
        return first["priority"] > second["priority"] > 0

    eventually(ranked, what="a scheduling pass to rank the queued jobs")
    factors_u1 = show(daemon, u1_job)["priority_factors"]
    factors_u2 = show(daemon, u2_job)["priority_factors"]
    assert factors_u2["fairshare"] > factors_u1["fairshare"]
    queue = [row["id"] for row in json.loads(daemon.cli("queue", "--json").out)]
    assert queue.index(u2_job) < queue.index(u1_job)  # pending jobs by priority

    gate.open()  # one GPU frees up
    first = daemon.wait(u2_job, {"RUNNING", "COMPLETED"})
    later = daemon.wait(u1_job)
    assert later["state"] == "COMPLETED"
    assert daemon.wait(u2_job)["state"] == "COMPLETED"
    assert first["start_time"] < later["start_time"]
    assert later["start_time"] >= show(daemon, u2_job)["end_time"]  # only one GPU was free

    usage = usage_by_user(daemon)
    assert usage["u1"] > usage["u2"] >= 0
    assert daemon.cli("cancel", str(big)).code == 0
