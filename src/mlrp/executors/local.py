"""Run jobs on this machine, one supervisor process per job.

Layout under `home_dir` (all created by the executor):

- `supervisors/<job_id>/` (mode 0o700, owned by the daemon's user): the supervisor's control
  directory: launch.json, supervisor.json, result.json, supervisor.log. It is kept out
  of `Launch.job_dir` on purpose: job_dir belongs to the job's user, who must not be able
  to rewrite launch.json (uid!) or supervisor.json (which pids the daemon kills) or
  forge result.json.
- `ended/<job_id>`: an empty marker the supervisor creates after writing result.json;
  `poll()` is one scandir of this directory plus one poll() on pidfds.

A supervisor outlives the daemon. After a restart, `adopt()` finds it again by pid,
checked against its /proc start time (or its command line) so a reused pid is never
taken for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrp.executors import supervisor as _sup
from mlrp.executors.base import Ended, EndState, Handle, Launch

SUPERVISOR_PATH = os.path.abspath(_sup.__file__)
# Started as `python -I -S -c SUPERVISOR_BOOT CONTROL_DIR`: importing the module (rather
# than running the file) lets Python use its compiled .pyc, saving a compile per job.
SUPERVISOR_BOOT = (
    f"import sys; sys.path.insert(0, {os.path.dirname(SUPERVISOR_PATH)!r}); "
    "import supervisor; sys.exit(supervisor.main(sys.argv))"
)
# The fork server: one such interpreter, forking a supervisor per job (see serve_forks).
FORK_SERVER_BOOT = (
    f"import sys; sys.path.insert(0, {os.path.dirname(SUPERVISOR_PATH)!r}); "
    "import supervisor; sys.exit(supervisor.serve_forks())"
)
LAUNCH_FORMAT_VERSION = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_START_TIME_TOLERANCE = 1.0  # /proc/stat's btime may drift by a second
_ADOPTED_CHECK_INTERVAL = 1.0  # liveness check of adopted supervisors without a pidfd
_boot_time: float | None = None


def boot_time() -> float:
    """The machine's boot time (epoch seconds) from /proc/stat, read once."""
    global _boot_time
    if _boot_time is None:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    _boot_time = float(line.split()[1])
                    break
            else:  # pragma: no cover - every Linux has btime
                raise OSError("no btime in /proc/stat")
    return _boot_time


def ticks_to_time(ticks: int) -> float:
    return boot_time() + ticks / _CLK_TCK


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (epoch seconds, from /proc); None if there is none."""
    st = _sup.read_proc_stat(pid)
    return None if st is None else ticks_to_time(st.start_ticks)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _ended_from_result(job_id: int, result: dict[str, Any]) -> Ended:
    def opt_int(value: Any) -> int | None:
        return None if value is None else int(value)

    message = result.get("message")
    return Ended(
        job_id=job_id,
        state=EndState(result["state"]),
        exit_code=opt_int(result.get("exit_code")),
        signal=opt_int(result.get("signal")),
        start_time=float(result["start_time"]),
        end_time=float(result["end_time"]),
        message=None if message is None else str(message),
    )


@dataclass(slots=True)
class _Watch:
    """A job whose supervisor this executor watches."""

    handle: Handle
    control: Path
    proc: subprocess.Popen[bytes] | None  # set when the supervisor is our child
    pidfd: int | None  # readable once the supervisor exits
    requested: EndState | None = None  # CANCELLED / PREEMPTED once asked
    next_check: float = 0.0


class LocalExecutor:
    """The real executor: runs jobs on this machine under per-job supervisors.

    Not thread-safe; meant for the daemon's single asyncio thread. Every method returns
    quickly; nothing waits for a job.
    """

    def __init__(
        self,
        home_dir: str | os.PathLike[str] | None = None,
        *,
        ended_dir: str | os.PathLike[str] | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        """`ended_dir` defaults to `<home_dir>/ended`, `run_dir` (the supervisors' control
        directories) to `<home_dir>/supervisors`, or next to `ended_dir` when only that is
        given. `python` runs the supervisors."""
        if ended_dir is not None:
            self.ended_dir = Path(ended_dir)
        elif home_dir is not None:
            self.ended_dir = Path(home_dir) / "ended"
        else:
            raise ValueError("LocalExecutor needs a home_dir or an ended_dir")
        if run_dir is not None:
            self.run_dir = Path(run_dir)
        elif home_dir is not None:
            self.run_dir = Path(home_dir) / "supervisors"
        else:
            self.run_dir = self.ended_dir.parent / "supervisors"
        self.python = python
        self.ended_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)  # launch.json holds the jobs' environments
        self._watches: dict[int, _Watch] = {}
        self._fd_jobs: dict[int, int] = {}  # pidfd -> job id
        self._no_pidfd: set[int] = set()  # jobs watched without a pidfd (rare)
        self._poller = select.poll()
        self._pending: list[Ended] = []  # ends found outside poll()
        self._reaping: list[subprocess.Popen[bytes]] = []  # our exited supervisors
        self._server: subprocess.Popen[bytes] | None = None  # forks supervisors

    # ------------------------------------------------------------------ protocol

    def launch(self, launch: Launch) -> Handle:
        if not launch.argv:
            raise ValueError("the command is empty")
        if launch.job_id in self._watches:
            raise ValueError(f"job {launch.job_id} is already running here")
        control = self.control_dir(launch.job_id)
        self._prepare_control(launch.job_id, control)
        self._prepare_job_dir(launch)
        payload = dataclasses.asdict(launch)
        payload["version"] = LAUNCH_FORMAT_VERSION
        payload["ended_dir"] = str(self.ended_dir)
        # Not fsync'ed (it costs the daemon ~20 ms): after a power cut the job is gone
        # anyway.
        data = json.dumps(payload).encode("utf-8")
        _sup.atomic_write(str(control / "launch.json"), data, mode=0o600, durable=False)
        pid, proc = self._start_supervisor(control)
        started = process_start_time(pid)
        handle = Handle(
            job_id=launch.job_id,
            supervisor_pid=pid,
            supervisor_started=started if started is not None else time.time(),
            job_dir=launch.job_dir,
        )
        self._watch(_Watch(handle, control, proc, self._open_pidfd(pid)))
        return handle

    def poll(self) -> list[Ended]:
        ended, self._pending = self._pending, []
        if self._reaping:
            self._reaping = [p for p in self._reaping if p.poll() is None]
        if not self._watches:
            return ended
        try:
            with os.scandir(self.ended_dir) as entries:
                names = [entry.name for entry in entries]
        except FileNotFoundError:  # removed under us: supervisors will fail to mark
            self.ended_dir.mkdir(parents=True, exist_ok=True)  # ends; pidfds still see them
            names = []
        for name in names:
            if name.isdigit() and int(name) in self._watches:
                ended.append(self._collect(int(name)))
        if self._fd_jobs:
            for fd, _events in self._poller.poll(0):
                job_id = self._fd_jobs.get(fd)
                if job_id is not None and job_id in self._watches:
                    ended.append(self._supervisor_exited(job_id))
        if self._no_pidfd:
            now = time.monotonic()
            for job_id in list(self._no_pidfd):
                watch = self._watches[job_id]
                if not self._still_running(watch, now):
                    ended.append(self._supervisor_exited(job_id))
        return ended

    def cancel(self, handle: Handle) -> None:
        self._stop(handle, signal.SIGTERM, EndState.CANCELLED)

    def preempt(self, handle: Handle) -> None:
        self._stop(handle, signal.SIGUSR1, EndState.PREEMPTED)

    def adopt(self, handles: Sequence[Handle]) -> list[Ended]:
        ended: list[Ended] = []
        for handle in handles:
            if handle.job_id in self._watches:
                continue
            control = self.control_dir(handle.job_id)
            watch = self._find_supervisor(handle, control)
            if watch is not None:
                self._watch(watch)
            else:
                ended.append(self._end_without_supervisor(handle, control, None))
        return ended

    # ------------------------------------------------------------------ extras

    def control_dir(self, job_id: int) -> Path:
        """The supervisor's private directory for `job_id`."""
        return self.run_dir / str(job_id)

    @property
    def running(self) -> list[int]:
        """Ids of the jobs this executor watches."""
        return sorted(self._watches)

    def purge(self, job_id: int) -> None:
        """Delete the control directory of an ended job (its launch.json holds the job's
        environment). Until then an adopt() after a restart can still report its end."""
        if job_id in self._watches:
            raise ValueError(f"job {job_id} is still running")
        control = self.control_dir(job_id)
        for name in ("launch.json", "supervisor.json", "result.json", "supervisor.log"):
            with contextlib.suppress(FileNotFoundError):
                (control / name).unlink()
        with contextlib.suppress(OSError):
            control.rmdir()

    def close(self) -> None:
        """Stop watching (the jobs keep running; a new executor can adopt them)."""
        for watch in list(self._watches.values()):
            self._unwatch(watch)
        self._stop_fork_server()

    # ------------------------------------------------------------------ internals

    def _find_supervisor(self, handle: Handle, control: Path) -> _Watch | None:
        """A watch on the live supervisor of `handle`'s job, or None when it is gone."""
        pidfd = self._open_pidfd(handle.supervisor_pid)  # before the check: no pid race
        if self._is_supervisor(handle, control):
            return _Watch(handle, control, None, pidfd)
        if pidfd is not None:
            os.close(pidfd)
        # The daemon may have died before it stored the handle's pid: the supervisor
        # recorded its own (and is then recognised by its command line).
        info = _read_json(control / "supervisor.json") or {}
        pid = int(info.get("pid") or 0)
        if not pid or pid == handle.supervisor_pid:
            return None
        pidfd = self._open_pidfd(pid)
        if not self._is_supervisor_pid(pid, None, control):
            if pidfd is not None:
                os.close(pidfd)
            return None
        started = process_start_time(pid) or handle.supervisor_started
        found = dataclasses.replace(handle, supervisor_pid=pid, supervisor_started=started)
        return _Watch(found, control, None, pidfd)

    def _prepare_control(self, job_id: int, control: Path) -> None:
        control.mkdir(mode=0o700, exist_ok=True)
        info = _read_json(control / "supervisor.json")
        if info is not None and self._is_supervisor_pid(int(info.get("pid", 0)), None, control):
            raise ValueError(f"job {job_id} still has a live supervisor (pid {info['pid']})")
        # A previous run of the same job id (requeue) leaves its files behind.
        for name in ("result.json", "supervisor.json", "launch.json"):
            with contextlib.suppress(FileNotFoundError):
                (control / name).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.ended_dir / str(job_id)).unlink()

    @staticmethod
    def _prepare_job_dir(launch: Launch) -> None:
        job_dir = Path(launch.job_dir)
        job_dir.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(job_dir, 0o755)
        if os.geteuid() == 0:
            st = os.lstat(job_dir)
            if stat.S_ISDIR(st.st_mode) and (st.st_uid, st.st_gid) != (launch.uid, launch.gid):
                os.chown(job_dir, launch.uid, launch.gid, follow_symlinks=False)

    def _start_supervisor(self, control: Path) -> tuple[int, subprocess.Popen[bytes] | None]:
        """Fork the job's supervisor from the fork server (about a millisecond); start a
        fresh interpreter only when the server cannot be used."""
        with (control / "supervisor.log").open("ab"):
            os.chmod(control / "supervisor.log", 0o600)
        for _ in range(2):
            server = self._fork_server()
            try:
                assert server.stdin is not None and server.stdout is not None
                server.stdin.write(f"{control}\n".encode())
                server.stdin.flush()
                reply = server.stdout.readline()
            except (OSError, ValueError):
                reply = b""
            if reply.strip().isdigit():
                return int(reply), None
            self._stop_fork_server()  # died or confused: start a new one and retry
        proc = self._spawn(control)
        return proc.pid, proc

    def _fork_server(self) -> subprocess.Popen[bytes]:
        if self._server is None or self._server.poll() is not None:
            command = [self.python, "-I", "-S", "-c", FORK_SERVER_BOOT]
            self._server = _detached(command, subprocess.PIPE, subprocess.PIPE, subprocess.DEVNULL)
        return self._server

    def _stop_fork_server(self) -> None:
        """Close the server's input: it exits; the supervisors it forked run on."""
        server, self._server = self._server, None
        if server is None:
            return
        for stream in (server.stdin, server.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)

    def _spawn(self, control: Path) -> subprocess.Popen[bytes]:
        command = [self.python, "-I", "-S", "-c", SUPERVISOR_BOOT, str(control)]
        # Its own Python-level crashes (before it can log) land in supervisor.log.
        with open(control / "supervisor.log", "ab") as log:
            return _detached(command, subprocess.DEVNULL, subprocess.DEVNULL, log)

    @staticmethod
    def _open_pidfd(pid: int) -> int | None:
        try:
            return os.pidfd_open(pid)
        except (OSError, AttributeError):  # gone, too many files, or an old kernel
            return None

    def _watch(self, watch: _Watch) -> None:
        self._watches[watch.handle.job_id] = watch
        if watch.pidfd is not None:
            self._fd_jobs[watch.pidfd] = watch.handle.job_id
            self._poller.register(watch.pidfd, select.POLLIN)
        else:
            self._no_pidfd.add(watch.handle.job_id)

    def _unwatch(self, watch: _Watch) -> None:
        self._watches.pop(watch.handle.job_id, None)
        self._no_pidfd.discard(watch.handle.job_id)
        if watch.pidfd is not None:
            self._poller.unregister(watch.pidfd)
            del self._fd_jobs[watch.pidfd]
            os.close(watch.pidfd)
            watch.pidfd = None
        if watch.proc is not None and watch.proc.poll() is None:
            self._reaping.append(watch.proc)

    def _collect(self, job_id: int) -> Ended:
        """The supervisor reported the end: read result.json, forget the job."""
        watch = self._watches[job_id]
        result = _read_json(watch.control / "result.json")
        with contextlib.suppress(FileNotFoundError):
            (self.ended_dir / str(job_id)).unlink()
        self._unwatch(watch)
        if result is None:
            return self._end_without_supervisor(watch.handle, watch.control, watch.requested)
        try:
            return _ended_from_result(job_id, result)
        except (KeyError, ValueError, TypeError):
            return self._end_without_supervisor(watch.handle, watch.control, watch.requested)

    def _supervisor_exited(self, job_id: int) -> Ended:
        watch = self._watches[job_id]
        if watch.proc is not None:
            watch.proc.poll()
        if (watch.control / "result.json").exists():
            return self._collect(job_id)
        self._unwatch(watch)
        return self._end_without_supervisor(watch.handle, watch.control, watch.requested)

    def _end_without_supervisor(
        self, handle: Handle, control: Path, requested: EndState | None
    ) -> Ended:
        """Report a job whose supervisor is gone, after killing what is left of it."""
        result = _read_json(control / "result.json")
        if result is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.ended_dir / str(handle.job_id)).unlink()
            with contextlib.suppress(KeyError, ValueError, TypeError):
                return _ended_from_result(handle.job_id, result)
        killed = kill_job_remains(handle.job_id, control)
        info = _read_json(control / "supervisor.json") or {}
        launch_json = control / "launch.json"
        start = info.get("start_time")
        if start is None:
            try:
                start = launch_json.stat().st_mtime
            except OSError:
                start = handle.supervisor_started
        state = requested or EndState.NODE_FAIL
        message = "the job's supervisor died without a result"
        if killed:
            message += f"; killed {killed} remaining processes"
        ended = Ended(handle.job_id, state, None, None, float(start), time.time(), message)
        payload = {
            "state": ended.state.value,
            "exit_code": None,
            "signal": None,
            "start_time": ended.start_time,
            "end_time": ended.end_time,
            "message": message,
        }
        # So that a later adopt() reports the same end instead of guessing again.
        with contextlib.suppress(OSError):
            data = json.dumps(payload).encode()
            _sup.atomic_write(str(control / "result.json"), data, durable=False)
        with contextlib.suppress(FileNotFoundError):
            (self.ended_dir / str(handle.job_id)).unlink()
        return ended

    def _stop(self, handle: Handle, sig: int, state: EndState) -> None:
        watch = self._watches.get(handle.job_id)
        if watch is None:
            return  # ended already (reported or about to be), or not ours
        if watch.requested is None:
            watch.requested = state
        if self._send(watch, sig):
            return
        self._pending.append(self._supervisor_exited(handle.job_id))

    def _send(self, watch: _Watch, sig: int) -> bool:
        """Signal the supervisor; False when it is gone."""
        try:
            if watch.pidfd is not None:
                signal.pidfd_send_signal(watch.pidfd, sig)
                return True
            if watch.proc is not None:
                if watch.proc.poll() is not None:
                    return False
                watch.proc.send_signal(sig)
                return True
            if not self._is_supervisor(watch.handle, watch.control):
                return False
            os.kill(watch.handle.supervisor_pid, sig)
            return True
        except ProcessLookupError:
            return False

    def _still_running(self, watch: _Watch, now: float) -> bool:
        """Liveness without a pidfd: our child via waitpid, others via /proc, at most
        once a second."""
        if watch.proc is not None:
            return watch.proc.poll() is None
        if now < watch.next_check:
            return True
        watch.next_check = now + _ADOPTED_CHECK_INTERVAL
        return self._is_supervisor(watch.handle, watch.control)

    def _is_supervisor(self, handle: Handle, control: Path) -> bool:
        return self._is_supervisor_pid(handle.supervisor_pid, handle.supervisor_started, control)

    @staticmethod
    def _is_supervisor_pid(pid: int, started: float | None, control: Path) -> bool:
        """Is `pid` a live (not zombie) supervisor of this control directory?"""
        if pid <= 0:
            return False
        st = _sup.read_proc_stat(pid)
        if st is None or st.state in ("Z", "X"):
            return False
        if started is not None and abs(ticks_to_time(st.start_ticks) - started) <= (
            _START_TIME_TOLERANCE
        ):
            return True
        # The start time moves with the wall clock (btime); the start in clock ticks that
        # the supervisor recorded, and the command line of a fresh one, do not.
        info = _read_json(control / "supervisor.json") or {}
        if info.get("pid") == pid and info.get("start_ticks") == st.start_ticks:
            return True
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            return False
        while args and not args[-1]:
            args.pop()
        return (
            owner == os.geteuid()
            and len(args) >= 2
            and os.fsdecode(args[-1]) == str(control)
            and os.fsdecode(args[-2]) == SUPERVISOR_BOOT
        )


def _detached(command: list[str], stdin: Any, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    """Start a supervisor (or the fork server) in a session of its own, with an empty
    environment, and SIGTERM/SIGUSR1 blocked: a cancel sent before it is ready stays
    pending instead of killing it."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})
    try:
        return subprocess.Popen(
            command, stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True,
            start_new_session=True, cwd="/", env={},
        )  # fmt: skip
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def kill_job_remains(job_id: int, control: Path) -> int:
    """SIGKILL what is left of a job whose supervisor is gone; returns how many.

    The job's processes are no longer below a supervisor, so they are found by the
    session/process group recorded in supervisor.json, or by the `MLRP_JOB_ID=<id>`
    entry of their initial environment (owned by the job's uid) — in both cases only
    processes started after the job, on this boot. They are reaped by init.
    """
    info = _read_json(control / "supervisor.json")
    launch = _read_json(control / "launch.json") or {}
    sid = 0
    since = 0
    if info is not None:
        if info.get("boot_id") and info["boot_id"] != _sup.boot_id():
            return 0  # the machine rebooted: nothing of the job survived
        sid = int(info.get("sid") or 0)
        since = int(info.get("child_start_ticks") or 0)
    else:
        try:  # never forked, or died before writing: look after launch.json's birth
            mtime = (control / "launch.json").stat().st_mtime
        except OSError:
            return 0
        since = int((mtime - 1.0 - boot_time()) * _CLK_TCK)
    uid = launch.get("uid")
    marker = f"MLRP_JOB_ID={job_id}".encode()
    me = os.getpid()
    killed: set[int] = set()
    for _round in range(5):
        victims = []
        for st in _sup.all_processes():
            if st.pid == me or st.state in ("Z", "X") or st.start_ticks < since:
                continue
            in_session = bool(sid) and sid in (st.session, st.pgrp)
            if in_session or (uid is not None and _env_has(st.pid, int(uid), marker)):
                victims.append(st.pid)
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.005)
    return len(killed)


def _env_has(pid: int, uid: int, entry: bytes) -> bool:
    try:
        if os.stat(f"/proc/{pid}").st_uid != uid:
            return False
        with open(f"/proc/{pid}/environ", "rb") as f:
            return entry in f.read().split(b"\0")
    except OSError:
        return False
