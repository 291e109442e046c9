"""LocalExecutor and its supervisor, with real processes: environment, output files,
limits, cleanup of whole process trees, failures before exec, daemon restarts."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlrp.executors.base import Ended, EndState, Handle, Launch
from mlrp.executors.local import LocalExecutor, process_start_time

PATH = "/usr/local/bin:/usr/bin:/bin"
_tags = itertools.count(1)


def unique_sleeps(n: int) -> list[str]:
    """Sleep durations no other test (or other process) uses: `["300.4712", ...]`."""
    tag = f"{os.getpid() % 1000:03d}{next(_tags):02d}"
    return [f"{300 + i}.{tag}" for i in range(n)]


def tree_script(sleeps: list[str], tail: str) -> str:
    """A background child, a setsid'd double-forked grandchild, then `tail`."""
    a, b = sleeps[0], sleeps[1]
    return f"sleep {a} & (setsid sleep {b} &); {tail}"


def find_sleeps(args: list[str]) -> dict[str, int]:
    """Live (non-zombie) `sleep <arg>` processes: arg -> pid."""
    found: dict[str, int] = {}
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if len(cmdline) == 2 and cmdline[0].endswith("sleep") and cmdline[1] in args:
            found[cmdline[1]] = proc.pid
    return found


def wait_for_sleeps(args: list[str], timeout: float = 10.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find_sleeps(args)
        if len(found) == len(args):
            return found
        time.sleep(0.02)
    raise AssertionError(f"expected sleeps {args}, found {find_sleeps(args)}")


def assert_gone(pids: list[int], timeout: float = 3.0) -> None:
    """None of `pids` exists any more, not even as a zombie."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if os.path.exists(f"/proc/{pid}")]
        if left:
            time.sleep(0.02)
    assert not left, [(pid, Path(f"/proc/{pid}/stat").read_text()) for pid in left]


class Jobs:
    """A LocalExecutor on a short temporary home, and helpers to drive it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.executor = LocalExecutor(self.home)
        self.handles: dict[int, Handle] = {}
        self.seen: list[Ended] = []

    def launch_spec(self, job_id: int, argv: list[str], **overrides: Any) -> Launch:
        out = str(self.root / f"{job_id}.out")
        fields: dict[str, Any] = {
            "job_id": job_id,
            "job_dir": str(self.root / "jobs" / str(job_id)),
            "argv": tuple(argv),
            "env": {"PATH": PATH, "HOME": str(self.root)},
            "workdir": str(self.root),
            "uid": os.getuid(),
            "gid": os.getgid(),
            "groups": tuple(os.getgroups()),
            "stdout": out,
            "stderr": out,
            "time_limit": 0,
            "signal": "TERM",
            "signal_before": 0,
            "grace": 1,
            "mem_mb": None,
        }
        fields.update(overrides)
        return Launch(**fields)

    def launch(self, job_id: int, argv: list[str], **overrides: Any) -> Handle:
        handle = self.executor.launch(self.launch_spec(job_id, argv, **overrides))
        self.handles[job_id] = handle
        return handle

    def bash(self, job_id: int, script: str, **overrides: Any) -> Handle:
        return self.launch(job_id, ["/bin/bash", "-c", script], **overrides)

    def wait(self, job_id: int, timeout: float = 15.0, executor: Any = None) -> Ended:
        executor = executor or self.executor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.seen.extend(executor.poll())
            for ended in self.seen:
                if ended.job_id == job_id:
                    return ended
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not end within {timeout}s")

    def wait_supervisor_gone(self, handle: Handle, executor: Any = None) -> None:
        """Polls until the supervisor has exited and been reaped (no zombie left)."""
        executor = executor or self.executor
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.seen.extend(executor.poll())
            if not os.path.exists(f"/proc/{handle.supervisor_pid}"):
                return
            time.sleep(0.02)
        raise AssertionError(f"supervisor {handle.supervisor_pid} still there")

    def output(self, job_id: int) -> str:
        return (self.root / f"{job_id}.out").read_text()

    def cleanup(self) -> None:
        for job_id in self.executor.running:
            self.executor.cancel(self.handles[job_id])
            with contextlib.suppress(AssertionError):
                self.wait(job_id)
        self.executor.close()


def short_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="mxl-", dir="/tmp"))
    root.chmod(0o755)  # a job running as `nobody` must reach its job_dir
    return root


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    root = short_root()
    j = Jobs(root)
    yield j
    j.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0


@pytest.fixture
def subreaper() -> Iterator[list[int]]:
    """Makes this test process a child subreaper while a supervisor is killed on purpose:
    the job's orphans then re-parent here instead of to an init that may never reap
    them. Yields a list: pids appended to it are reaped at the end."""
    pids: list[int] = []
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    try:
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        _prctl(36, 0)


# ---------------------------------------------------------------------- basics


def test_process_start_time_matches_psutil() -> None:
    started = process_start_time(os.getpid())
    assert started is not None
    assert abs(started - psutil.Process().create_time()) < 1.5
    assert process_start_time(2**22 + 1) is None


def test_job_sees_its_environment_and_workdir(jobs: Jobs) -> None:
    work = jobs.root / "work"
    work.mkdir()
    env = {"PATH": PATH, "FOO": "bar baz", "MLRP_JOB_ID": "7"}
    jobs.bash(7, 'echo "$FOO|$MLRP_JOB_ID|$(pwd)|${HOME:-unset}"', env=env, workdir=str(work))
    ended = jobs.wait(7)
    assert ended.state is EndState.COMPLETED, ended
    assert jobs.output(7) == f"bar baz|7|{work}|unset\n"


def test_stdout_and_stderr_to_separate_files_appended(jobs: Jobs) -> None:
    out, err = jobs.root / "o.txt", jobs.root / "e.txt"
    out.write_text("before\n")
    jobs.bash(8, "echo to-out; echo to-err >&2", stdout=str(out), stderr=str(err))
    assert jobs.wait(8).state is EndState.COMPLETED
    assert out.read_text() == "before\nto-out\n"
    assert err.read_text() == "to-err\n"
    assert stat.S_IMODE(err.stat().st_mode) == 0o644 & ~_umask()


def test_stdout_and_stderr_in_one_file_keep_order(jobs: Jobs) -> None:
    jobs.bash(9, "for i in 1 2 3; do echo out$i; echo err$i >&2; done")
    assert jobs.wait(9).state is EndState.COMPLETED
    assert jobs.output(9).split() == ["out1", "err1", "out2", "err2", "out3", "err3"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_job_dir_is_created(jobs: Jobs) -> None:
    handle = jobs.bash(10, "true")
    jobs.wait(10)
    assert Path(handle.job_dir).is_dir()
    control = jobs.executor.control_dir(10)
    assert stat.S_IMODE(control.parent.stat().st_mode) == 0o700
    result = json.loads((control / "result.json").read_text())
    assert set(result) == {"state", "exit_code", "signal", "start_time", "end_time", "message"}
    info = json.loads((control / "supervisor.json").read_text())
    assert info["pid"] == handle.supervisor_pid
    assert info["pgid"] == info["child_pid"] == info["sid"]


def test_launch_returns_quickly(jobs: Jobs) -> None:
    started = time.monotonic()
    for job_id in range(100, 105):
        jobs.launch(job_id, ["sleep", "0.2"])
    assert time.monotonic() - started < 1.0
    for job_id in range(100, 105):
        assert jobs.wait(job_id).state is EndState.COMPLETED


def test_signal_kills_is_failed_with_the_signal(jobs: Jobs) -> None:
    jobs.bash(11, "kill -SEGV $$")
    ended = jobs.wait(11)
    assert ended.state is EndState.FAILED
    assert ended.signal == signal.SIGSEGV
    assert ended.exit_code is None
    assert ended.message is not None and "SIGSEGV" in ended.message


def test_invalid_launches_are_refused(jobs: Jobs) -> None:
    with pytest.raises(ValueError):
        jobs.launch(12, [])
    with pytest.raises(ValueError):
        LocalExecutor()


def test_unknown_signal_name_fails_the_job(jobs: Jobs) -> None:
    jobs.launch(13, ["true"], signal="NOPE")
    ended = jobs.wait(13)
    assert ended.state is EndState.FAILED
    assert ended.message == "cannot start the job: unknown signal 'NOPE'"


def test_executor_built_from_ended_dir_alone(jobs: Jobs) -> None:
    executor = LocalExecutor(ended_dir=jobs.root / "h2" / "ended")
    assert executor.run_dir == jobs.root / "h2" / "supervisors"
    jobs.executor = executor
    jobs.launch(14, ["true"])
    assert jobs.wait(14).state is EndState.COMPLETED


# ---------------------------------------------------------------------- failures before exec


def test_command_not_found_is_failed_127(jobs: Jobs) -> None:
    jobs.launch(20, ["no-such-command-mlrp"])
    ended = jobs.wait(20)
    assert ended.state is EndState.FAILED
    assert ended.exit_code == 127
    assert ended.message == "command not found: no-such-command-mlrp"


def test_missing_script_path_is_failed_127(jobs: Jobs) -> None:
    jobs.launch(21, [str(jobs.root / "nope.sh")])
    ended = jobs.wait(21)
    assert (ended.state, ended.exit_code) == (EndState.FAILED, 127)
    assert ended.message is not None and "nope.sh" in ended.message


def test_not_executable_is_failed_126(jobs: Jobs) -> None:
    script = jobs.root / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    jobs.launch(22, [str(script)])
    ended = jobs.wait(22)
    assert (ended.state, ended.exit_code) == (EndState.FAILED, 126)
    assert ended.message is not None and "permission denied" in ended.message.lower()


def test_unwritable_output_file_is_failed_with_a_message(jobs: Jobs) -> None:
    bad = str(jobs.root / "missing-dir" / "x.out")
    jobs.launch(23, ["true"], stdout=bad, stderr=bad)
    ended = jobs.wait(23)
    assert ended.state is EndState.FAILED
    assert ended.message == f"cannot open output file {bad}: No such file or directory"


def test_missing_workdir_is_failed_with_a_message(jobs: Jobs) -> None:
    jobs.launch(24, ["true"], workdir="/nonexistent-mlrp")
    ended = jobs.wait(24)
    assert ended.state is EndState.FAILED
    assert ended.message is not None and "/nonexistent-mlrp" in ended.message


# ---------------------------------------------------------------------- nothing left behind


def test_cancel_kills_the_whole_tree(jobs: Jobs) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(30, tree_script(sleeps, f"sleep {sleeps[2]}"))
    pids = wait_for_sleeps(sleeps)
    main_pid = json.loads((jobs.executor.control_dir(30) / "supervisor.json").read_text())
    jobs.executor.cancel(handle)
    ended = jobs.wait(30)
    assert ended.state is EndState.CANCELLED
    assert ended.end_time - ended.start_time < 5
    assert_gone([*pids.values(), main_pid["child_pid"]])
    jobs.wait_supervisor_gone(handle)


def test_time_limit_kills_the_whole_tree(jobs: Jobs) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(31, tree_script(sleeps, f"sleep {sleeps[2]}"), time_limit=1)
    pids = wait_for_sleeps(sleeps)
    ended = jobs.wait(31)
    assert ended.state is EndState.TIMEOUT
    assert 0.9 <= ended.end_time - ended.start_time < 4
    assert ended.message is not None and "time limit" in ended.message
    assert_gone(list(pids.values()))
    jobs.wait_supervisor_gone(handle)


def test_normal_exit_kills_what_the_job_left_running(jobs: Jobs) -> None:
    sleeps = unique_sleeps(2)
    marker = jobs.root / "spawned"
    script = tree_script(sleeps, f"touch {marker}; sleep 0.5; exit 0")
    handle = jobs.bash(32, script)
    pids = wait_for_sleeps(sleeps)
    ended = jobs.wait(32)
    assert ended.state is EndState.COMPLETED
    assert ended.exit_code == 0
    assert marker.exists()
    assert_gone(list(pids.values()))
    jobs.wait_supervisor_gone(handle)


def test_polite_signal_then_sigkill_after_grace(jobs: Jobs) -> None:
    # The job ignores SIGTERM (and so does its sleep): only SIGKILL ends it.
    sleeps = unique_sleeps(1)
    handle = jobs.bash(33, f"trap '' TERM; sleep {sleeps[0]}; echo survived", grace=1)
    pids = wait_for_sleeps(sleeps)
    started = time.monotonic()
    jobs.executor.cancel(handle)
    ended = jobs.wait(33)
    assert ended.state is EndState.CANCELLED
    assert ended.signal == signal.SIGKILL
    assert time.monotonic() - started >= 0.9
    assert "survived" not in jobs.output(33)
    assert_gone(list(pids.values()))


def test_cancel_right_after_launch_is_cancelled(jobs: Jobs) -> None:
    handle = jobs.launch(34, ["sleep", "30"])
    jobs.executor.cancel(handle)
    ended = jobs.wait(34)
    assert ended.state is EndState.CANCELLED
    jobs.wait_supervisor_gone(handle)


def test_preempt_kills_the_tree_as_preempted(jobs: Jobs) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(35, tree_script(sleeps, f"sleep {sleeps[2]}"))
    pids = wait_for_sleeps(sleeps)
    jobs.executor.preempt(handle)
    assert jobs.wait(35).state is EndState.PREEMPTED
    assert_gone(list(pids.values()))


# ---------------------------------------------------------------------- limits


def test_signal_before_the_time_limit_reaches_the_job(jobs: Jobs) -> None:
    mark = jobs.root / "warned"
    script = f"trap 'date +%s.%N > {mark}' USR1; while :; do sleep 0.05; done"
    jobs.bash(40, script, time_limit=2, signal="USR1", signal_before=1, grace=1)
    ended = jobs.wait(40)
    assert ended.state is EndState.TIMEOUT
    assert mark.exists(), "the job's USR1 trap never ran"
    warned_at = float(mark.read_text())
    assert ended.start_time + 0.7 <= warned_at <= ended.end_time - 0.7


def test_signal_at_the_limit_when_signal_before_is_zero(jobs: Jobs) -> None:
    mark = jobs.root / "usr2"
    script = f"trap 'touch {mark}; exit 0' USR2; while :; do sleep 0.05; done"
    jobs.bash(41, script, time_limit=1, signal="USR2", signal_before=0, grace=2)
    ended = jobs.wait(41)
    # It exited by itself on the signal, but the limit was still what ended it.
    assert ended.state is EndState.TIMEOUT
    assert ended.exit_code == 0
    assert mark.exists()


def test_memory_limit_is_out_of_memory(jobs: Jobs) -> None:
    hog = "import time\nb = b'x' * (200 << 20)\ntime.sleep(30)\n"
    handle = jobs.bash(42, f'{sys.executable} -c "{hog}"; echo after', mem_mb=50)
    ended = jobs.wait(42)
    assert ended.state is EndState.OUT_OF_MEMORY
    assert ended.message is not None and "memory limit of 50 MB exceeded" in ended.message
    assert ended.end_time - ended.start_time < 10
    assert "after" not in jobs.output(42)
    jobs.wait_supervisor_gone(handle)


def test_small_job_under_the_memory_limit_completes(jobs: Jobs) -> None:
    jobs.bash(43, "sleep 0.8; echo ok", mem_mb=200)
    assert jobs.wait(43).state is EndState.COMPLETED
    assert jobs.output(43) == "ok\n"


# ---------------------------------------------------------------------- daemon restarts


def test_adopted_job_can_be_cancelled(jobs: Jobs) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(50, tree_script(sleeps, f"sleep {sleeps[2]}"))
    pids = wait_for_sleeps(sleeps)
    jobs.executor = LocalExecutor(jobs.home)  # the daemon died; a new one starts
    assert jobs.executor.adopt([handle]) == []
    assert jobs.executor.running == [50]
    jobs.executor.cancel(handle)
    ended = jobs.wait(50)
    assert ended.state is EndState.CANCELLED
    assert_gone(list(pids.values()))
    with contextlib.suppress(ChildProcessError):  # our child only because we are the "init"
        os.waitpid(handle.supervisor_pid, 0)


def test_adopted_job_that_ends_later_is_reported_by_poll(jobs: Jobs) -> None:
    handle = jobs.bash(51, "sleep 0.7; exit 4")
    jobs.executor = LocalExecutor(jobs.home)
    assert jobs.executor.adopt([handle]) == []
    ended = jobs.wait(51)
    assert (ended.state, ended.exit_code) == (EndState.FAILED, 4)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(handle.supervisor_pid, 0)


def test_end_while_the_daemon_was_down_is_reported_by_adopt(jobs: Jobs) -> None:
    handle = jobs.bash(52, "exit 7")
    old = jobs.executor
    jobs.executor = LocalExecutor(jobs.home)
    marker = old.ended_dir / "52"
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(handle.supervisor_pid, 0)
    # The supervisor writes its marker just before it exits: on a loaded machine it may
    # still be alive for a moment, and adopt would then watch it instead of reporting.
    while psutil.pid_exists(handle.supervisor_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    ended = jobs.executor.adopt([handle])
    assert [(e.job_id, e.state, e.exit_code) for e in ended] == [(52, EndState.FAILED, 7)]
    assert not marker.exists()
    time.sleep(0.1)
    assert jobs.executor.poll() == []
    assert jobs.executor.adopt([handle])[0].state is EndState.FAILED  # durable across restarts


def test_supervisor_killed_while_daemon_down_is_node_fail(jobs: Jobs, subreaper: list[int]) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(53, tree_script(sleeps, f"sleep {sleeps[2]}"))
    pids = wait_for_sleeps(sleeps)
    info = json.loads((jobs.executor.control_dir(53) / "supervisor.json").read_text())
    subreaper.extend([handle.supervisor_pid, info["child_pid"], *pids.values()])
    jobs.executor = LocalExecutor(jobs.home)  # the daemon died ...
    os.kill(handle.supervisor_pid, signal.SIGKILL)  # ... and so did the supervisor
    with contextlib.suppress(psutil.NoSuchProcess):  # not our child: the fork server's
        psutil.Process(handle.supervisor_pid).wait(timeout=10)
    ended = jobs.executor.adopt([handle])
    assert len(ended) == 1
    assert ended[0].state is EndState.NODE_FAIL
    assert ended[0].message is not None and "supervisor" in ended[0].message
    assert find_sleeps(sleeps) == {}
    assert jobs.executor.running == []


def test_supervisor_killed_under_a_running_daemon_is_node_fail(
    jobs: Jobs, subreaper: list[int]
) -> None:
    sleeps = unique_sleeps(3)
    handle = jobs.bash(54, tree_script(sleeps, f"sleep {sleeps[2]}"))
    pids = wait_for_sleeps(sleeps)
    info = json.loads((jobs.executor.control_dir(54) / "supervisor.json").read_text())
    subreaper.extend([info["child_pid"], *pids.values()])
    os.kill(handle.supervisor_pid, signal.SIGKILL)
    ended = jobs.wait(54)
    assert ended.state is EndState.NODE_FAIL
    assert find_sleeps(sleeps) == {}
    jobs.wait_supervisor_gone(handle)  # the executor reaped its child


def test_adopt_does_not_mistake_a_reused_pid_for_the_supervisor(jobs: Jobs) -> None:
    # A handle whose pid now belongs to another live process (this one).
    stale = Handle(55, os.getpid(), time.time() - 10_000, str(jobs.root / "jobs" / "55"))
    ended = jobs.executor.adopt([stale])
    assert [(e.job_id, e.state) for e in ended] == [(55, EndState.NODE_FAIL)]
    assert jobs.executor.running == []
    jobs.executor.cancel(stale)  # and nothing is signalled


# ---------------------------------------------------------------------- as root


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="running a job as another user needs root"
)


@needs_root
def test_job_runs_as_its_user_with_output_owned_by_it(jobs: Jobs) -> None:
    nobody = pwd.getpwnam("nobody")
    job_dir = jobs.root / "jobs" / "60"
    out = str(job_dir / "60.out")
    script = "id -u; id -g; id -G; touch mine"
    jobs.bash(
        60,
        script,
        uid=nobody.pw_uid,
        gid=nobody.pw_gid,
        groups=(nobody.pw_gid,),
        workdir=str(job_dir),
        stdout=out,
        stderr=out,
    )
    ended = jobs.wait(60)
    assert ended.state is EndState.COMPLETED, (ended, Path(out).read_text())
    lines = Path(out).read_text().split("\n")
    assert lines[:3] == [str(nobody.pw_uid), str(nobody.pw_gid), str(nobody.pw_gid)]
    assert os.stat(out).st_uid == nobody.pw_uid
    assert (job_dir / "mine").stat().st_uid == nobody.pw_uid
    assert job_dir.stat().st_uid == nobody.pw_uid


@needs_root
def test_output_files_are_opened_as_the_user(jobs: Jobs) -> None:
    nobody = pwd.getpwnam("nobody")
    private = jobs.root / "private"
    private.mkdir(mode=0o700)  # root-only: nobody may not create files here
    out = str(private / "x.out")
    ids = {"uid": nobody.pw_uid, "gid": nobody.pw_gid, "groups": ()}
    jobs.launch(61, ["true"], stdout=out, stderr=out, **ids)
    ended = jobs.wait(61)
    assert ended.state is EndState.FAILED
    assert ended.message == f"cannot open output file {out}: Permission denied"
    assert not Path(out).exists()


def test_memory_shared_by_forked_workers_counts_once(jobs: Jobs) -> None:
    # 4 processes share 60 MB copy-on-write: their RSS adds up to ~4x60 MB, far over the
    # limit, but together they use ~60 MB (PSS), under it.
    worker = (
        "import os, time\n"
        "b = b'x' * (60 << 20)\n"
        "pids = [os.fork() for _ in range(3)]\n"
        "if 0 in pids: time.sleep(1.5); os._exit(0)\n"
        "[os.waitpid(p, 0) for p in pids]\n"
        "print('done')\n"
    )
    script = jobs.root / "workers.py"
    script.write_text(worker)
    jobs.launch(44, [sys.executable, str(script)], mem_mb=150)
    ended = jobs.wait(44)
    assert ended.state is EndState.COMPLETED, (ended, jobs.output(44))
    assert jobs.output(44) == "done\n"


def test_adopt_finds_the_supervisor_when_the_handle_has_no_pid(jobs: Jobs) -> None:
    handle = jobs.launch(56, ["sleep", "30"])
    deadline = time.monotonic() + 5
    while not (jobs.executor.control_dir(56) / "supervisor.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    jobs.executor = LocalExecutor(jobs.home)
    unknown = Handle(56, 0, 0.0, handle.job_dir)  # the daemon died before storing it
    assert jobs.executor.adopt([unknown]) == []
    jobs.handles[56] = unknown
    jobs.executor.cancel(unknown)
    assert jobs.wait(56).state is EndState.CANCELLED
    with contextlib.suppress(ChildProcessError):
        os.waitpid(handle.supervisor_pid, 0)


# ---------------------------------------------------------------------- fork server


def test_supervisors_come_from_one_fork_server_and_outlive_it(jobs: Jobs) -> None:
    first = jobs.bash(70, "sleep 0.3; exit 3")
    second = jobs.bash(71, "sleep 0.3")
    parents = {psutil.Process(h.supervisor_pid).ppid() for h in (first, second)}
    assert len(parents) == 1  # both forked by the same server, not by this process
    jobs.executor._stop_fork_server()  # the server goes away while job 70 still runs
    ended = jobs.wait(70)
    assert (ended.state, ended.exit_code) == (EndState.FAILED, 3)
    assert jobs.wait(71).state is EndState.COMPLETED


def test_a_dead_fork_server_is_replaced(jobs: Jobs) -> None:
    jobs.bash(72, "exit 0")
    jobs.wait(72)
    server = jobs.executor._server
    assert server is not None
    server.kill()
    server.wait()
    jobs.bash(73, "exit 5")
    assert jobs.executor._server is not server
    assert jobs.wait(73).exit_code == 5


def test_without_a_working_fork_server_supervisors_start_fresh(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlrp.executors.local.FORK_SERVER_BOOT", "raise SystemExit(1)")
    handle = jobs.bash(74, "echo fresh; exit 6")
    assert psutil.Process(handle.supervisor_pid).ppid() == os.getpid()
    assert jobs.wait(74).exit_code == 6
