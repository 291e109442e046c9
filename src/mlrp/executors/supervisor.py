"""The per-job supervisor: starts one job, watches it, outlives the daemon.

Standalone on purpose (stdlib only, no mlrp imports, no subprocess): the executor runs

    python -I -S supervisor.py <control_dir>

with stdin/stdout /dev/null, in a session of its own. `<control_dir>` is a directory
private to the executor (root-owned when the daemon runs as root, never writable by the
job's user) holding:

- `launch.json` (read): the `Launch` fields plus "ended_dir" and "version";
- `supervisor.json` (written once the job is forked): pid, child_pid, pgid, sid,
  start_time, child_start_ticks, boot_id, job_id, uid;
- `result.json` (written at the end): state, exit_code, signal, start_time, end_time,
  message;
- `supervisor.log`: this process's diagnostics.

After writing result.json it creates the empty file `<ended_dir>/<job_id>`, so that the
executor finds every ended job with one directory scan, and exits 0.

The supervisor is a child subreaper, so whatever the job forks stays below it even after
setsid() and double forks; when the job's main process ends, everything left is killed
with SIGKILL and reaped. It never busy-waits: it sleeps in sigtimedwait() on SIGCHLD,
SIGTERM (cancel), SIGUSR1 (preempt), with a timeout only for the next deadline (time
limit, grace, memory check every 0.5 s when a memory limit is set).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time

# os.execvpe imports `warnings` lazily. It must be loaded before the fork: once the child
# has dropped to the job's user it may not be allowed to read this interpreter's files.
import warnings  # noqa: F401

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only; importing typing costs this process's start-up
    from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
WATCHED = frozenset({signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1})
MEMORY_INTERVAL = 0.5
KILL_REPEAT = 1.0
FINAL_KILL_TIMEOUT = 30.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
EXIT_SETUP_FAILED = 1
# Signals the job gets back at their default disposition (Python ignores SIGPIPE, and an
# ignored signal stays ignored across exec).
RESET_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGPIPE,
    signal.SIGCHLD,
    signal.SIGXFSZ,
    signal.SIGXCPU,
)


class ProcStat:
    """The fields of /proc/<pid>/stat that executors need. (A plain class: `typing`
    alone would add a third to this process's start-up.)"""

    __slots__ = ("pgrp", "pid", "ppid", "rss_pages", "session", "start_ticks", "state")

    def __init__(
        self, *, pid: int, state: str, ppid: int, pgrp: int, session: int, start_ticks: int,
        rss_pages: int,
    ) -> None:  # fmt: skip
        self.pid, self.state, self.ppid, self.pgrp = pid, state, ppid, pgrp
        self.session, self.start_ticks, self.rss_pages = session, start_ticks, rss_pages

    def __repr__(self) -> str:
        return f"ProcStat(pid={self.pid}, state={self.state!r}, ppid={self.ppid})"


def read_proc_stat(pid: int) -> ProcStat | None:
    """Parse /proc/<pid>/stat; None when the process does not exist (any more)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name (field 2) is in parentheses and may itself contain ") ".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            state=fields[0].decode("ascii", "replace"),
            ppid=int(fields[1]),
            pgrp=int(fields[2]),
            session=int(fields[3]),
            start_ticks=int(fields[19]),
            rss_pages=int(fields[21]),
        )
    except (IndexError, ValueError):
        return None


def all_processes() -> list[ProcStat]:
    """Every process of the machine (not threads), as far as /proc lets us see it."""
    result: list[ProcStat] = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_proc_stat(int(name))
            if st is not None:
                result.append(st)
    return result


HAVE_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def read_pss(pid: int, default: int) -> int:
    """Proportional set size of `pid` in bytes, from /proc/<pid>/smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return default


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def read_oom_kills() -> int:
    """The machine-wide count of kernel OOM kills (-1 when unknown)."""
    try:
        with open("/proc/vmstat", encoding="ascii") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def parse_signal(name: str | int) -> int:
    """Signal number of "TERM", "SIGTERM", "15" or 15; ValueError for anything else."""
    if isinstance(name, int):
        number = name
    else:
        text = name.strip().upper().removeprefix("SIG")
        number = int(text) if text.isdigit() else int(getattr(signal, "SIG" + text, 0))
    if not 1 <= number < signal.NSIG:
        raise ValueError(f"unknown signal {name!r}")
    return number


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Write a file so that readers see either nothing or all of it (and, when
    `durable`, so that it survives a power cut once written)."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Supervisor:
    """One job, from fork to result.json."""

    def __init__(self, control_dir: str) -> None:
        self.control_dir = control_dir
        self.log_fd = os.open(
            os.path.join(control_dir, "supervisor.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
            0o600,
        )
        self.pid = os.getpid()
        self.cfg: dict[str, Any] = {}
        self.job_id = -1
        self.child = 0  # the job's main process; also its session and process group id
        self.child_start_ticks = 0
        self.status: int | None = None  # the main process's wait status, once reaped
        self.start_time = time.time()
        self.started = time.monotonic()
        self.reason: str | None = None  # TIMEOUT / CANCELLED / PREEMPTED / OUT_OF_MEMORY
        self.message: str | None = None
        self.warn_at: float | None = None
        self.limit_at: float | None = None
        self.kill_at: float | None = None
        self.mem_at: float | None = None
        self.grace = 0.0
        self.oom_before = -1
        self.result_written = False

    # ---------------------------------------------------------------- helpers

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with contextlib.suppress(OSError):
            os.write(self.log_fd, f"{stamp} [{self.pid}] {message}\n".encode())

    def path(self, name: str) -> str:
        return os.path.join(self.control_dir, name)

    def job_processes(self) -> list[ProcStat]:
        """The job's processes: every descendant of this supervisor, plus members of the
        job's session or process group (those started after the job)."""
        procs = all_processes()
        children: dict[int, list[int]] = {}
        for st in procs:
            children.setdefault(st.ppid, []).append(st.pid)
        found: set[int] = set()
        stack = [self.pid]
        while stack:
            for pid in children.get(stack.pop(), ()):
                if pid not in found:
                    found.add(pid)
                    stack.append(pid)
        result = []
        for st in procs:
            if st.pid == self.pid:
                continue
            in_session = self.child and (st.session == self.child or st.pgrp == self.child)
            if st.pid in found or (in_session and st.start_ticks >= self.child_start_ticks):
                result.append(st)
        return result

    def descendants(self) -> list[ProcStat]:
        """This supervisor's descendants (all of the job, being a subreaper): through
        /proc/<pid>/task/<tid>/children when the kernel has them (cheap), else by a
        scan of /proc."""
        if not HAVE_CHILDREN_FILES:
            return self.job_processes()
        found: list[int] = []
        stack = [self.pid]
        while stack:
            pid = stack.pop()
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        children = [int(c) for c in f.read().split()]
                except (OSError, ValueError):
                    continue
                found.extend(children)
                stack.extend(children)
        return [st for st in map(read_proc_stat, found) if st is not None]

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the job's process group, only while its leader is unreaped (so
        the id cannot have been reused)."""
        if self.child and self.status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child, sig)

    def signal_all(self, sig: int) -> int:
        """Send `sig` to the job's process group and every other process of the job."""
        self.signal_group(sig)
        count = 0
        for st in self.job_processes():
            if st.state in ("Z", "X"):
                continue
            try:
                os.kill(st.pid, sig)
                count += 1
            except (ProcessLookupError, PermissionError):
                pass
        return count

    def reap(self) -> bool:
        """Reap every exited child; True when children remain."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.child:
                self.status = status
                self.log(f"job process {pid} ended: {describe_status(status)}")

    # ---------------------------------------------------------------- main flow

    def run(self) -> None:
        with open(self.path("launch.json"), encoding="utf-8") as f:
            self.cfg = json.load(f)
        cfg = self.cfg
        self.job_id = int(cfg["job_id"])
        self.grace = max(0.0, float(cfg.get("grace", 0)))
        self.log(f"supervising job {self.job_id}: {cfg['argv']!r}")
        _prctl(PR_SET_CHILD_SUBREAPER, 1)

        # A cancel or preempt that arrived while we were starting: do not start at all.
        pending = signal.sigpending()
        early = None
        if signal.SIGTERM in pending:
            early = "CANCELLED"
        elif signal.SIGUSR1 in pending:
            early = "PREEMPTED"
        if early is not None:
            while signal.sigtimedwait(WATCHED, 0) is not None:
                pass
            self.log(f"{early.lower()} before the job started")
            now = time.time()
            self.finish(early, None, None, now, f"{early.lower()} before start")
            return

        try:
            job_signal = parse_signal(cfg.get("signal") or "TERM")
        except ValueError as exc:
            self.log(str(exc))
            self.finish("FAILED", None, None, time.time(), f"cannot start the job: {exc}")
            return

        err_r = self.start_job()
        self.watch(job_signal)
        exec_error = self.read_exec_error(err_r)
        self.kill_remaining()
        self.conclude(exec_error)

    def start_job(self) -> int:
        """Fork the job; returns the read end of the pipe its pre-exec errors come on."""
        cfg = self.cfg
        self.oom_before = read_oom_kills()
        err_r, err_w = os.pipe()  # both close on exec
        self.start_time = time.time()
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            self.child_main(err_w)  # never returns
        os.close(err_w)
        self.child = pid
        st = read_proc_stat(pid)
        self.child_start_ticks = st.start_ticks if st is not None else 0
        info = {
            "pid": self.pid,
            "child_pid": pid,
            "pgid": pid,
            "sid": pid,
            "start_time": self.start_time,
            "child_start_ticks": self.child_start_ticks,
            "start_ticks": own_start_ticks(self.pid),
            "boot_id": boot_id(),
            "job_id": self.job_id,
            "uid": int(cfg["uid"]),
        }
        atomic_write(self.path("supervisor.json"), json.dumps(info).encode())
        self.log(f"job process {pid} forked")
        return err_r

    def watch(self, job_signal: int) -> None:
        """Wait for the job's main process to end, enforcing limits and handling cancel
        and preempt meanwhile."""
        cfg = self.cfg
        start = self.started
        limit = int(cfg.get("time_limit") or 0)
        before = max(0, int(cfg.get("signal_before") or 0))
        if limit > 0:
            self.limit_at = start + limit
            if before > 0:
                self.warn_at = start + max(0, limit - before)
        at_limit = job_signal if before == 0 else signal.SIGTERM
        mem_mb = cfg.get("mem_mb")
        mem_limit = int(mem_mb) * 1024 * 1024 if mem_mb else 0
        if mem_limit:
            self.mem_at = start + 0.1

        while self.status is None:
            now = time.monotonic()
            if self.warn_at is not None and now >= self.warn_at:
                self.warn_at = None
                self.log(f"time limit in {before}s: sending {signal_name(job_signal)}")
                self.signal_group(job_signal)
            if self.limit_at is not None and now >= self.limit_at:
                self.limit_at = None
                self.begin_end("TIMEOUT", at_limit, f"time limit of {limit}s reached")
            if self.kill_at is not None and now >= self.kill_at:
                self.log("grace period over: SIGKILL")
                self.signal_all(signal.SIGKILL)
                self.kill_at = now + KILL_REPEAT
            if self.mem_at is not None and now >= self.mem_at:
                self.check_memory(mem_limit)
                # Keep the checks under ~1% of a CPU even with a slow /proc scan.
                cost = time.monotonic() - now
                if self.mem_at is not None:
                    self.mem_at = now + max(MEMORY_INTERVAL, 100 * cost)
            deadlines = [
                d for d in (self.warn_at, self.limit_at, self.kill_at, self.mem_at) if d is not None
            ]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 3600.0
            info_sig = signal.sigtimedwait(WATCHED, timeout)
            while info_sig is not None:
                self.on_signal(info_sig.si_signo)
                info_sig = signal.sigtimedwait(WATCHED, 0)
            self.reap()

    def on_signal(self, signo: int) -> None:
        if signo == signal.SIGTERM:
            self.begin_end("CANCELLED", signal.SIGTERM, "cancelled")
        elif signo == signal.SIGUSR1:
            self.begin_end("PREEMPTED", signal.SIGTERM, "preempted")

    def begin_end(self, reason: str, sig: int, message: str) -> None:
        """Start the polite end: `sig` to the job, SIGKILL after the grace period. The
        first reason wins (a cancel during a timeout's grace stays a TIMEOUT)."""
        if self.reason is not None:
            self.log(f"{reason.lower()} requested while already ending ({self.reason})")
            return
        self.reason = reason
        self.message = message
        self.warn_at = self.limit_at = None
        self.log(f"{message}: sending {signal_name(sig)}, SIGKILL in {self.grace:g}s")
        if sig == signal.SIGTERM:
            self.signal_all(sig)
        else:
            self.signal_group(sig)
        self.kill_at = time.monotonic() + self.grace

    def check_memory(self, limit: int) -> None:
        """Kill the job when its processes together use more than `limit` bytes.

        The cheap measure is the sum of RSS; only when that is over the limit is it
        confirmed with PSS, which counts pages shared between the job's processes
        (forked data-loader workers...) once instead of once per process."""
        stats = self.descendants()
        rss = sum(st.rss_pages for st in stats if st.state not in ("Z", "X")) * PAGE_SIZE
        if rss <= limit:
            return
        pss = sum(read_pss(st.pid, st.rss_pages * PAGE_SIZE) for st in stats)
        if pss <= limit:
            return
        used, allowed = pss // (1024 * 1024), limit // (1024 * 1024)
        message = f"memory limit of {allowed} MB exceeded (PSS {used} MB)"
        self.log(message + ": SIGKILL")
        if self.reason is None:
            self.reason = "OUT_OF_MEMORY"
            self.message = message
        self.warn_at = self.limit_at = self.mem_at = None
        self.signal_all(signal.SIGKILL)
        self.kill_at = time.monotonic() + KILL_REPEAT

    def read_exec_error(self, fd: int) -> str | None:
        """What the job's child reported before exec (EOF without data: exec worked)."""
        chunks = []
        try:
            os.set_blocking(fd, False)
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        text = b"".join(chunks).decode("utf-8", "replace").strip()
        return text or None

    def kill_remaining(self) -> None:
        """SIGKILL and reap every process left of the job, until none is left."""
        # As a subreaper, every live process of the job is a descendant, so keeps a child
        # of ours alive: with no child left there is nothing to look for in /proc.
        if not self.reap():
            return
        deadline = time.monotonic() + FINAL_KILL_TIMEOUT
        total = 0
        while True:
            live = [st for st in self.job_processes() if st.state not in ("Z", "X")]
            for st in live:
                try:
                    os.kill(st.pid, signal.SIGKILL)
                    total += 1
                except (ProcessLookupError, PermissionError):
                    pass
            children_left = self.reap()
            if not live and not children_left:
                break
            if time.monotonic() > deadline:
                self.log(f"giving up on {len(live)} unkillable processes: {live}")
                break
            signal.sigtimedwait({signal.SIGCHLD}, 0.02)
        if total:
            self.log(f"killed {total} leftover processes")

    def conclude(self, exec_error: str | None) -> None:
        status = self.status if self.status is not None else 0
        exit_code: int | None = None
        sig: int | None = None
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        else:
            exit_code = os.WEXITSTATUS(status)
        message = self.message
        if self.reason is not None:
            state = self.reason
        elif exec_error is not None:
            state, message = "FAILED", exec_error
        elif sig is None:
            state = "COMPLETED" if exit_code == 0 else "FAILED"
        elif sig == signal.SIGKILL and self.oom_before >= 0 and read_oom_kills() > self.oom_before:
            state, message = "OUT_OF_MEMORY", "killed by the kernel's out-of-memory killer"
        else:
            state, message = "FAILED", f"killed by {signal_name(sig)}"
        self.finish(state, exit_code, sig, time.time(), message)

    def finish(
        self, state: str, exit_code: int | None, sig: int | None, end: float, message: str | None
    ) -> None:
        result = {
            "state": state,
            "exit_code": exit_code,
            "signal": sig,
            "start_time": self.start_time,
            "end_time": end,
            "message": message,
        }
        atomic_write(self.path("result.json"), json.dumps(result).encode())
        self.result_written = True
        self.log(f"result: {state} exit_code={exit_code} signal={sig} message={message!r}")
        ended_dir = self.cfg.get("ended_dir")
        if ended_dir and self.job_id >= 0:
            fd = os.open(
                os.path.join(ended_dir, str(self.job_id)),
                os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                0o644,
            )
            os.close(fd)

    def fail(self, message: str) -> None:
        """Last resort after an internal error: kill the job, report NODE_FAIL."""
        self.log(message)
        if self.child:
            try:
                self.kill_remaining()
            except Exception as exc:
                self.log(f"cleanup failed: {exc!r}")
        if not self.result_written:
            self.finish("NODE_FAIL", None, None, time.time(), message)

    # ---------------------------------------------------------------- the job's child

    def child_main(self, err_w: int) -> None:
        """In the forked child: become the job. Never returns."""
        code = EXIT_SETUP_FAILED
        try:
            code, message = self.become_job()
        except BaseException as exc:  # report anything, never return into the supervisor
            message = f"cannot start the job: {exc!r}"
        try:
            os.write(err_w, message.encode("utf-8", "replace"))
        finally:
            os._exit(code)

    def become_job(self) -> tuple[int, str]:
        """Set up and exec; returns (exit code, message) only when that failed."""
        cfg = self.cfg
        os.setsid()
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        uid, gid = int(cfg["uid"]), int(cfg["gid"])
        groups = [int(g) for g in cfg.get("groups") or ()]
        try:
            if os.geteuid() == 0:
                os.setgroups(groups)
                os.setgid(gid)
                os.setuid(uid)
            elif uid != os.geteuid():
                return EXIT_SETUP_FAILED, f"cannot run as uid {uid}: the supervisor is not root"
        except OSError as exc:
            return EXIT_SETUP_FAILED, f"cannot switch to uid {uid} gid {gid}: {exc.strerror}"
        # Die with the supervisor: without it nobody enforces limits or reports the end.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.pid:
            return EXIT_SETUP_FAILED, "the supervisor died before the job started"
        workdir = str(cfg["workdir"])
        try:
            os.chdir(workdir)
        except OSError as exc:
            return EXIT_SETUP_FAILED, f"cannot change directory to {workdir}: {exc.strerror}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOCTTY
        stdout, stderr = str(cfg["stdout"]), str(cfg["stderr"])
        same = os.path.normpath(stdout) == os.path.normpath(stderr)
        fds = []
        for path in (stdout,) if same else (stdout, stderr):
            try:
                fds.append(os.open(path, flags, 0o644))
            except OSError as exc:
                return EXIT_SETUP_FAILED, f"cannot open output file {path}: {exc.strerror}"
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[-1], 2)
        argv = [str(a) for a in cfg["argv"]]
        env = {str(k): str(v) for k, v in (cfg.get("env") or {}).items()}
        # Lets the executor find escaped processes should this supervisor die.
        env.setdefault("MLRP_JOB_ID", str(self.job_id))
        try:
            os.execvpe(argv[0], argv, env)
        except (FileNotFoundError, NotADirectoryError):
            if "/" in argv[0]:
                return EXIT_NOT_FOUND, f"no such file: {argv[0]}"
            return EXIT_NOT_FOUND, f"command not found: {argv[0]}"
        except PermissionError:
            return EXIT_NOT_EXECUTABLE, f"permission denied: {argv[0]}"
        except OSError as exc:
            return EXIT_NOT_EXECUTABLE, f"cannot execute {argv[0]}: {exc.strerror}"
        return EXIT_SETUP_FAILED, "exec returned"  # pragma: no cover - exec never returns


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal_name(os.WTERMSIG(status))}"
    return f"exit code {os.WEXITSTATUS(status)}"


def own_start_ticks(pid: int) -> int | None:
    st = read_proc_stat(pid)
    return st.start_ticks if st is not None else None


def serve_forks() -> int:
    """Fork-server mode: read control directories, one per line, on stdin; fork a
    supervisor for each and answer its pid on stdout; exit at end of input.

    Starting a Python interpreter and importing this module costs far more than the
    supervisor's work for a short job; a fork of this already-initialized process costs
    about a millisecond. The forked supervisors are in sessions of their own and do not
    depend on this process: they outlive it as they outlive the daemon.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)  # inherited: early cancels wait
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps ended supervisors
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin:
        control = line.strip()
        pid = os.fork()
        if pid == 0:
            os._exit(_forked_supervisor(control))
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    return 0


def _forked_supervisor(control: str) -> int:
    """In the child of the fork server: become a supervisor exactly as if started fresh."""
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # waitpid must see the job's end
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(os.path.join(control, "supervisor.log"), os.O_WRONLY | os.O_APPEND)
        for target, fd in ((0, null), (1, null), (2, log)):
            os.dup2(fd, target)
        os.close(null)
        os.close(log)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own fds
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        return main(["supervisor", control])
    except BaseException:  # nothing above may return into the server's loop
        return 1


def main(argv: list[str]) -> int:
    # Block what sigtimedwait() waits for before anything else (the executor already
    # starts us with SIGTERM/SIGUSR1 blocked, so an early cancel stays pending).
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if len(argv) != 2:
        sys.stderr.write("usage: supervisor.py CONTROL_DIR\n")
        return 2
    supervisor = Supervisor(argv[1])
    try:
        supervisor.run()
    except BaseException:
        import traceback

        supervisor.fail("supervisor error:\n" + traceback.format_exc())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
