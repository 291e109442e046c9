"""Helpers shared by the daemon-level integration tests (tests/integration/test_*.py).

Everything goes through a real `mlrp up` process (the `daemon` / `daemon_factory`
fixtures of tests/conftest.py) and the CLI; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil

from daemon_harness import Daemon, eventually, kill_leftovers, short_tempdir
from mlrp.errors import MlrpError

T = TypeVar("T")

# A short grace between the polite signal and SIGKILL keeps cancels and timeouts quick.
FAST_GRACE = "[daemon]\ngrace = 1\n"

# A job that prints its restart count, notes the grace signal, then runs until stopped.
RESUMABLE = (
    'echo "start $MLRP_RESTART_COUNT"; trap \'echo "got TERM"; exit 0\' TERM; '
    "while true; do sleep 0.1; done"
)


@contextlib.contextmanager
def private_daemon(config: str | None = None) -> Iterator[Daemon]:
    """A daemon on a home of its own, for a module-scoped fixture: at the end its jobs
    are cancelled, it stops, and nothing it started is left behind."""
    home = short_tempdir()
    daemon = Daemon(home=home, config=config)
    try:
        daemon.start()
        yield daemon
        with contextlib.suppress(MlrpError):  # e.g. the daemon died in a test
            daemon.client.cancel([], states=["PENDING", "RUNNING"])
    finally:
        daemon.stop()
        kill_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)


def show(daemon: Daemon, job_id: int) -> dict[str, Any]:
    """`mlrp show JOB --json`."""
    result = daemon.cli("show", str(job_id), "--json")
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def listing(daemon: Daemon, command: str, *args: str) -> list[dict[str, Any]]:
    """`mlrp queue --json ...` or `mlrp history --json ...`."""
    result = daemon.cli(command, "--json", *args)
    assert result.code == 0, result.err
    rows: list[dict[str, Any]] = json.loads(result.out)
    return rows


def ids_of(rows: Iterable[dict[str, Any]]) -> set[int]:
    return {int(row["id"]) for row in rows}


def wait_reason(daemon: Daemon, job_id: int, reason: str, timeout: float = 30) -> dict[str, Any]:
    """Wait until a scheduling pass has recorded `reason` for the (pending) job."""

    def check() -> dict[str, Any] | None:
        job = show(daemon, job_id)
        assert job["state"] == "PENDING", job
        return job if job["reason"] == reason else None

    return eventually(check, timeout=timeout, what=f"job {job_id} pending with {reason}")


def log_text(daemon: Daemon, job_id: int, stream: str = "out") -> str:
    """What `mlrp logs JOB` shows (through the daemon's log API)."""
    data, _, _ = daemon.client.logs(job_id, stream=stream)
    return data.decode(errors="replace")


def unique_number() -> int:
    """A number no other concurrently running test session uses: marks our processes
    (`sleep <n>`) so that process checks cannot see someone else's."""
    return 100_000 + (os.getpid() * 7919 + time.monotonic_ns() // 1000) % 800_000


def sleeps_alive(*durations: int) -> list[psutil.Process]:
    """Live (non-zombie) `sleep N` processes for the given N."""
    wanted = {("sleep", str(n)) for n in durations}
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        args = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE or len(args) != 2:
            continue
        if (os.path.basename(args[0]), args[1]) in wanted:
            found.append(proc)
    return found


class Gate:
    """A job command that runs until the test opens the gate, then exits with `code`.
    The job's shell writes its pid to `pid_file` first."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"gate-{name}"
        self.pid_file = folder / f"gate-{name}.pid"

    def command(self, code: int = 0) -> list[str]:
        path, pid_file = shlex.quote(str(self.path)), shlex.quote(str(self.pid_file))
        script = f"echo $$ > {pid_file}; while [ ! -e {path} ]; do sleep 0.1; done; exit {code}"
        return ["sh", "-c", script]

    def open(self) -> None:
        self.path.touch()

    def pid(self) -> int:
        """The job's pid, once its shell has written it."""
        text = eventually(
            lambda: self.pid_file.exists() and self.pid_file.read_text().strip(),
            what=f"{self.pid_file.name}",
        )
        return int(text)

    def open_and_wait_exit(self) -> None:
        """Open the gate and wait until the job's main process is gone (no daemon needed)."""
        pid = self.pid()
        self.open()
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(timeout=30)


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Do two [start, end) intervals share any time?"""
    return a[0] < b[1] and b[0] < a[1]


def max_concurrency(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals that share a moment."""
    spans = list(intervals)
    events = sorted(
        [(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    running = best = 0
    for _, step in events:
        running += step
        best = max(best, running)
    return best
