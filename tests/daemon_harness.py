"""A real `mlrp up` on a temporary MLRP_HOME, and helpers to drive it (used by conftest
and by test modules; a module of its own so that its name never clashes)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from mlrp.cli.main import main
from mlrp.client import Client
from mlrp.errors import DaemonUnavailable

T = TypeVar("T")

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED",
            "NODE_FAIL"}  # fmt: skip


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Daemon:
    """A real `mlrp up` process on a private home, and helpers to talk to it."""

    home: Path
    gpus: int = 8
    config: str | None = None
    mode: str = "personal"
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # `mlrp up --port`: 0 (the default here) keeps tests off the TCP port every daemon
    # would otherwise share; None leaves it to the config.
    api_port: int | None = 0

    @property
    def socket(self) -> str:
        return str(self.home / "mlrp.sock")

    @property
    def client(self) -> Client:
        return Client(self.socket)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.config is not None:
            (self.home / "config.toml").write_text(self.config)
        command = [sys.executable, "-m", "mlrp.cli.main", "up",
                   "--simulated-gpus", str(self.gpus), "--mode", self.mode]  # fmt: skip
        if self.api_port is not None:
            command += ["--port", str(self.api_port)]
        log = open(self.home / "daemon.out", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env={**os.environ, "MLRP_HOME": str(self.home), **self.extra_env},
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("daemon exited:\n" + self.log())
            with contextlib.suppress(DaemonUnavailable):
                self.client.whoami()
                return
            time.sleep(0.05)
        raise RuntimeError("daemon did not start:\n" + self.log())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGTERM)

    def log(self) -> str:
        path = self.home / "daemon.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def cli(self, *args: str, stdin: str | None = None) -> Result:
        """Run the CLI in this process (fast), against this daemon."""
        out, err = io.StringIO(), io.StringIO()
        old_env = os.environ.get("MLRP_HOME")
        os.environ["MLRP_HOME"] = str(self.home)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as e:
                    code = int(e.code or 0)
        finally:
            if old_env is None:
                os.environ.pop("MLRP_HOME", None)
            else:
                os.environ["MLRP_HOME"] = old_env
        return Result(code, out.getvalue(), err.getvalue())

    def run_cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> Result:
        """Run the CLI as its own process (`python -m mlrp.cli.main`): the real exit
        status, stdout and stderr, as a user's shell sees them."""
        proc = subprocess.run(
            [sys.executable, "-m", "mlrp.cli.main", *args], input=stdin, capture_output=True,
            text=True, timeout=timeout, env={**os.environ, "MLRP_HOME": str(self.home)},
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def submit(self, *args: str) -> int:
        result = self.cli("submit", "--parsable", *args)
        assert result.code == 0, result.err
        return int(result.out.strip().split("_")[0])

    def job(self, job_id: int) -> dict[str, Any]:
        return self.client.job(job_id)

    def wait(
        self, job_id: int, states: set[str] | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        wanted = states or TERMINAL
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in wanted:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still {self.job(job_id)['state']}, wanted {wanted}")


def short_tempdir() -> Path:
    """Unix socket paths are limited to 108 bytes: keep homes short."""
    return Path(tempfile.mkdtemp(prefix="mlrp-", dir="/tmp"))


def kill_leftovers(home: Path) -> int:
    """SIGKILL every process still tied to `home` (jobs and their supervisors outlive the
    daemon): its path on the command line, or MLRP_HOME=home in the environment."""
    marker, me, killed = str(home), os.getpid(), 0
    for _ in range(5):
        victims = []
        for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
            info = proc.info
            if info["pid"] == me:
                continue
            args = info["cmdline"] or []
            env = info["environ"] or {}
            if env.get("MLRP_HOME") == marker or any(a.startswith(marker) for a in args):
                victims.append(proc)
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
                killed += 1
        if not victims:
            break
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_alive(p) for p in victims):
            time.sleep(0.01)
    return killed


def _alive(proc: psutil.Process) -> bool:
    """Still running (a zombie waiting for a parent that may never reap it is not)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def eventually(
    check: Callable[[], T], *, timeout: float = 30.0, what: str = "it", every: float = 0.05
) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(every)
