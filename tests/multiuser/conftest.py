"""Fixtures for the multi-user tests: real Unix users, a real root daemon, the CLI run as
each user through `runuser` (so the kernel's peer credentials are real).

Everything here needs root and `useradd`; the test modules skip themselves otherwise.
User names carry a random suffix so that two runs at once never share users.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import mlrp
from mlrp.client import Client
from mlrp.errors import DaemonUnavailable

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED",
            "NODE_FAIL"}  # fmt: skip
VENV_MLRP = Path(sys.executable).parent / "mlrp"
SRC_DIR = Path(mlrp.__file__).resolve().parent.parent


def multiuser_skip_reason() -> str | None:
    """Why the multi-user tests cannot run here (None when they can)."""
    if sys.platform != "linux":
        return "multi-user mode needs Linux (SO_PEERCRED)"
    if os.geteuid() != 0:
        return "multi-user tests need root (they create Unix users and run a root daemon)"
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if shutil.which(tool) is None:
            return f"multi-user tests need `{tool}`, which is not installed"
    return None


SKIP_REASON = multiuser_skip_reason()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path

    @property
    def work(self) -> Path:
        """A directory of the user's own to submit from."""
        return self.home / "work"


@dataclass
class Users:
    alice: User
    bob: User
    carol: User
    group: str
    group_gid: int
    base: Path  # parent of the homes
    cli: list[str] = field(default_factory=list)  # how a user runs `mlrp`
    cli_env: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[User]:
        return [self.alice, self.bob, self.carol]

    def run(
        self,
        user: User,
        argv: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        """Run `argv` as `user` (a real process with the user's uid/gid/groups), with a
        clean login-like environment."""
        base_env = {
            "HOME": str(user.home), "USER": user.name, "LOGNAME": user.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        }  # fmt: skip
        full_env = {**base_env, **(env or {})}
        command = ["runuser", "-u", user.name, "--", "env", "-i",
                   *(f"{k}={v}" for k, v in full_env.items()), *argv]  # fmt: skip
        proc = subprocess.run(
            command, cwd=str(cwd or user.home), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def mlrp(
        self,
        user: User,
        home: Path,
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        """`mlrp ARGS` as `user` against the daemon on `home`."""
        full_env = {**self.cli_env, "MLRP_HOME": str(home), **(env or {})}
        return self.run(user, [*self.cli, *args], cwd=cwd, env=full_env, timeout=timeout)


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    """useradd & co., retried while another process holds /etc/passwd's lock."""
    for _ in range(20):
        proc = subprocess.run(list(argv), capture_output=True, text=True)
        if proc.returncode != 10 or "lock" not in proc.stderr:
            return proc
        time.sleep(0.25)
    return proc


def _processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{name}").st_uid == uid:
                pids.append(int(name))
    return pids


def kill_processes_of(uid: int) -> list[int]:
    """SIGKILL, by pid, whatever still runs as a test user (started by these tests)."""
    killed = []
    for _ in range(10):
        pids = _processes_of(uid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.1)
    return killed


def _cli_for(users: Users) -> tuple[list[str], dict[str, str]] | None:
    """The venv's `mlrp` when the users can execute it; else this Python's version from
    the system (the venv's interpreter may live under a private /root) with the venv's
    packages on PYTHONPATH."""
    candidates: list[tuple[list[str], dict[str, str]]] = [([str(VENV_MLRP)], {})]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = [str(SRC_DIR), *site.getsitepackages()]
    for python in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.exists(python):
            candidates.append(([python, "-m", "mlrp.cli.main"], {"PYTHONPATH": ":".join(paths)}))
    for argv, env in candidates:
        probe = users.run(users.bob, [*argv, "queue", "--help"], env=env)
        if probe.code == 0:
            return argv, env
    return None


@pytest.fixture(scope="session")
def users() -> Iterator[Users]:
    if SKIP_REASON is not None:
        pytest.skip(SKIP_REASON)
    tag = secrets.token_hex(3)
    base = Path(tempfile.mkdtemp(prefix="mlrp-mu-users-", dir="/tmp"))
    base.chmod(0o755)
    group = f"mlrp_grp_{tag}"
    created: list[str] = []
    group_made = False
    try:
        proc = _tool("groupadd", group)
        if proc.returncode != 0:
            pytest.skip(f"groupadd failed: {proc.stderr.strip()}")
        group_made = True
        made: dict[str, User] = {}
        for who in ("alice", "bob", "carol"):
            name = f"mlrp_{who}_{tag}"
            extra = ["-G", group] if who == "alice" else []
            proc = _tool("useradd", "-m", "-d", str(base / who), "-s", "/bin/sh",
                         "-K", "UMASK=022", *extra, name)  # fmt: skip
            if proc.returncode != 0:
                pytest.skip(f"useradd failed: {proc.stderr.strip()}")
            created.append(name)
            entry = pwd.getpwnam(name)
            made[who] = User(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
            (made[who].home).chmod(0o755)
            work = made[who].work
            work.mkdir()
            os.chown(work, entry.pw_uid, entry.pw_gid)
        import grp

        result = Users(made["alice"], made["bob"], made["carol"], group,
                       grp.getgrnam(group).gr_gid, base)  # fmt: skip
        cli = _cli_for(result)
        if cli is None:
            pytest.skip("no Python that the test users may execute can import mlrp")
        result.cli, result.cli_env = cli
        yield result
    finally:
        for name in created:
            with contextlib.suppress(KeyError):
                kill_processes_of(pwd.getpwnam(name).pw_uid)
            _tool("userdel", "-r", name)
        if group_made:
            _tool("groupdel", group)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class MuDaemon:
    """A root `mlrp up` in multi-user (or personal) mode on its own temporary home."""

    home: Path
    mode: str
    config: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.home / "mlrp.sock"

    @property
    def client(self) -> Client:
        return Client(str(self.socket))

    def start(self) -> None:
        (self.home / "config.toml").write_text(self.config)
        log = open(self.home / "daemon.out", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlrp.cli.main", "up", "--simulated-gpus", "4",
             "--mode", self.mode],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env={**os.environ, "MLRP_HOME": str(self.home)},
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

    def log(self) -> str:
        path = self.home / "daemon.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def job(self, job_id: int) -> dict[str, Any]:
        return self.client.job(job_id)

    def wait(self, job_id: int, states: set[str] | None = None, timeout: float = 30) -> Any:
        wanted = states or TERMINAL
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in wanted:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still {self.job(job_id)['state']}, wanted {wanted}")

    def stop(self) -> None:
        """Cancel whatever is still active (jobs outlive the daemon), then stop it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            active = self.client.jobs(states=["PENDING", "RUNNING"])
            if active:
                self.client.cancel([], states=["PENDING", "RUNNING"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.client.jobs(states=["RUNNING"]):
                time.sleep(0.05)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


def _new_daemon(users: Users, mode: str) -> Iterator[MuDaemon]:
    home = Path(tempfile.mkdtemp(prefix="mlrp-mu-", dir="/tmp"))
    home.chmod(0o755)
    config = (
        "[daemon]\n"
        f'admins = ["{users.carol.name}"]\n'
        "grace = 2\n"
    )  # fmt: skip
    daemon = MuDaemon(home=home, mode=mode, config=config)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        for user in users.all():
            kill_processes_of(user.uid)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def mu(users: Users) -> Iterator[MuDaemon]:
    """A root daemon in multi-user mode; carol is an admin in its config."""
    yield from _new_daemon(users, "multi-user")


@pytest.fixture
def personal(users: Users) -> Iterator[MuDaemon]:
    """A root daemon in personal mode."""
    yield from _new_daemon(users, "personal")
