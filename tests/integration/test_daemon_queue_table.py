"""`mlrp queue` prints the table the daemon renders (`GET /api/v1/jobs?format=table`):
the same text the CLI used to build itself from the JSON rows; and `mlrp queue
--start`, squeue --start's view: each pending job's expected start time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from integration_support import FAST_GRACE, Gate, eventually, private_daemon, wait_reason

from daemon_harness import Daemon
from mlrp.models.durations import format_duration
from mlrp.models.states import JobState

START_HEADERS = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "START_TIME", "GPUS", "REASON"]


# ------------------------------------------------ the CLI's own table, before the daemon's


def cli_table_before(rows: list[dict[str, Any]], now: float) -> str:
    """`mlrp queue`'s output as the CLI formatted it itself, from the JSON rows (the
    code of mlrp.cli.listing and mlrp.tables before the daemon rendered it)."""
    headers = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS", "NODELIST(REASON)"]
    lines = []
    for job in rows:
        reason = "JobHeldUser" if job["held"] else job["reason"]
        gpus = ",".join(str(i) for i in job["gpus"])
        where = gpus if job["state"] == "RUNNING" else f"({reason})"
        elapsed = None
        if job.get("start_time") is not None:
            elapsed = (job.get("end_time") or now) - job["start_time"]
        lines.append(
            [
                job["display_id"],
                job["user"],
                job["account"],
                job["name"][:24],
                JobState(job["state"]).short,
                "" if elapsed is None else format_duration(max(int(elapsed), 0)),
                job["gpu_count"],
                where,
            ]
        )
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in lines]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon(FAST_GRACE) as shared:
        yield shared


def test_the_daemons_table_is_what_the_cli_printed_before(daemon: Daemon, tmp_path: Path) -> None:
    gate = Gate(tmp_path, "running")
    running = daemon.submit("--gpus", "3", "-J", "runs", "--", *gate.command())
    daemon.wait(running, {"RUNNING"})
    daemon.submit("--hold", "-J", "a-name-longer-than-twenty-four-characters", "--", "true")
    daemon.submit("--as-user", "someone-else", "--hold", "--array", "0-11", "--", "true")
    daemon.submit("--as-user", "ünïcode", "--hold", "-J", "naïve", "--", "true")
    blocked = daemon.submit("--gpus", "8", "-J", "big", "--", "true")
    wait_reason(daemon, blocked, "Resources")
    try:
        for args in ([], ["--user", "someone-else"], ["--state", "PD"], ["-t", "R"]):

            def same(args: list[str] = args) -> bool:
                # The TIME of a running job may tick between the two reads: try again.
                rows = daemon.client.jobs(states=_states(args), user=_user(args))
                before = cli_table_before(rows, time.time())
                result = daemon.cli("queue", *args)
                assert result.code == 0, result.err
                return result.out == before

            eventually(same, timeout=10, what=f"the same table for queue {args}")
        assert len(daemon.cli("queue").out.splitlines()) == 1 + 1 + 1 + 12 + 1 + 1
        # A queue of none: the header alone.
        assert daemon.cli("queue", "--user", "nobody").out == (
            "JOBID  USER  ACCOUNT  NAME  ST  TIME  GPUS  NODELIST(REASON)\n"
        )
    finally:
        gate.open()
        daemon.client.cancel([], states=["PENDING", "RUNNING"])


def _states(args: list[str]) -> list[str] | None:
    if "--state" in args or "-t" in args:
        return [JobState.PENDING.value] if "PD" in args else [JobState.RUNNING.value]
    return None


def _user(args: list[str]) -> str | None:
    return args[1] if args[:1] == ["--user"] else None


# ------------------------------------------------------------------------ queue --start


def stamp(epoch: float, zone: str | None = None) -> str:
    if zone is None:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")


def test_queue_start_shows_when_a_job_blocked_behind_a_running_one_starts(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(tmp_path, "blocker")
    blocker = daemon.submit("--gpus", "8", "--time", "10:00", "--", *gate.command())
    started = daemon.wait(blocker, {"RUNNING"})["start_time"]
    top = daemon.submit("--gpus", "2", "-J", "waits", "--", "true")
    second = daemon.submit("--gpus", "1", "-J", "after", "--", "true")
    held = daemon.submit("--hold", "-J", "held", "--", "true")
    try:
        job = wait_reason(daemon, top, "Resources")
        expected = job["expected_start"]
        assert expected == pytest.approx(started + 600, abs=2)  # the blocker's time limit

        def view(*extra: str) -> list[list[str]]:
            result = daemon.cli("queue", "--start", *extra)
            assert result.code == 0, result.err
            return [line.split() for line in result.out.splitlines()]

        eventually(lambda: show_reason(daemon, second) != "None", what="a pass over both")
        header, *rows = view()
        assert header == START_HEADERS
        by_id = {int(row[0]): row for row in rows}
        assert blocker not in by_id  # pending jobs only, as squeue --start
        assert set(by_id) == {top, second, held}
        assert rows[0][0] == str(top)  # known start times first
        assert by_id[top][4:] == ["PD", stamp(expected), "2", "Resources"]
        assert by_id[second][5] in {"N/A", stamp(expected)}
        assert by_id[held][4:] == ["PD", "N/A", "0", "JobHeldUser"]

        # With --state R: the running job, with the time it started.
        (_, running) = view("-t", "R")
        assert running[0] == str(blocker) and running[5] == stamp(started)

        # Times are in the caller's time zone (its TZ), whatever the daemon's.
        for zone in ("Asia/Tokyo", "America/Santiago"):
            monkeypatch.setenv("TZ", zone)  # the CLI's; the daemon keeps its own
            row = next(r for r in view() if r[0] == str(top))
            assert row[5] == stamp(expected, zone)
    finally:
        gate.open()
        daemon.client.cancel([], states=["PENDING", "RUNNING"])


def show_reason(daemon: Daemon, job_id: int) -> str:
    return str(daemon.client.job(job_id)["reason"])
