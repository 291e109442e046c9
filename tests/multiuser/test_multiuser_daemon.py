"""Multi-user mode end to end: a root daemon, real Unix users calling it through the CLI.

The fixtures create three users (alice, bob, carol; alice has one extra supplementary
group; carol is an admin in the daemon's config) and run `mlrp` as each of them with
`runuser`, as separate processes, so the daemon sees real peer credentials (SO_PEERCRED).
Users get a random suffix so that two runs at once never share them, and are removed
with `userdel -r` afterwards.

Everything lives in this one module on purpose: a `conftest.py` here would take over the
module name `conftest` that other test folders import their helpers from.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import mlrp
from daemon_harness import Daemon, Result
from mlrp.models.states import JobState


def _skip_reason() -> str | None:
    if sys.platform != "linux":
        return "multi-user mode needs Linux (SO_PEERCRED)"
    if os.geteuid() != 0:
        return "the multi-user tests need root: they create Unix users and run a root daemon"
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if shutil.which(tool) is None:
            return f"the multi-user tests need `{tool}`, which is not installed"
    return None


SKIP_REASON = _skip_reason()
pytestmark = [
    pytest.mark.multiuser,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]

TERMINAL = {s.value for s in JobState} - {"PENDING", "RUNNING"}
VENV_MLRP = Path(sys.executable).parent / "mlrp"
SRC_DIR = Path(mlrp.__file__).resolve().parent.parent
SLEEP = ["--", "sleep", "300"]


# ----------------------------------------------------------------------------- fixtures


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
    group_gid: int  # alice's supplementary group
    cli: list[str] = field(default_factory=list)  # how a user runs `mlrp`
    cli_env: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[User]:
        return [self.alice, self.bob, self.carol]

    def run(
        self, user: User, argv: list[str], *, cwd: Path | None = None,
        env: dict[str, str] | None = None, timeout: float = 60,
    ) -> Result:  # fmt: skip
        """Run `argv` as `user` (their uid, gid and groups) in a clean login-like
        environment."""
        full_env = {
            "HOME": str(user.home), "USER": user.name, "LOGNAME": user.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {}),
        }  # fmt: skip
        command = ["runuser", "-u", user.name, "--", "env", "-i",
                   *(f"{k}={v}" for k, v in full_env.items()), *argv]  # fmt: skip
        proc = subprocess.run(
            command, cwd=str(cwd or user.home), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def mlrp(
        self, user: User, home: Path, *args: str, cwd: Path | None = None,
        env: dict[str, str] | None = None, timeout: float = 60,
    ) -> Result:  # fmt: skip
        """`mlrp ARGS` as `user`, against the daemon on `home`."""
        full_env = {**self.cli_env, "MLRP_HOME": str(home), **(env or {})}
        return self.run(user, [*self.cli, *args], cwd=cwd, env=full_env, timeout=timeout)


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    """useradd & co., retried while another process holds the lock on /etc/passwd."""
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    for _ in range(20):
        if proc.returncode != 10 or "lock" not in proc.stderr:
            break
        time.sleep(0.25)
        proc = subprocess.run(list(argv), capture_output=True, text=True)
    return proc


def kill_processes_of(uid: int) -> None:
    """SIGKILL, one pid at a time, whatever still runs as a test user."""
    for _ in range(10):
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        pids.append(int(name))
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _cli_for(users: Users) -> tuple[list[str], dict[str, str]] | None:
    """The venv's `mlrp` when the users may execute it; else the system's Python of the
    same version with the venv's packages on PYTHONPATH (the venv's interpreter may live
    under a private /root)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = ":".join([str(SRC_DIR), *site.getsitepackages()])
    candidates: list[tuple[list[str], dict[str, str]]] = [([str(VENV_MLRP)], {})]
    for python in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.exists(python):
            candidates.append(([python, "-m", "mlrp.cli.main"], {"PYTHONPATH": paths}))
    for argv, env in candidates:
        if users.run(users.bob, [*argv, "queue", "--help"], env=env).code == 0:
            return argv, env
    return None


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
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
            proc = _tool("useradd", "-m", "-d", str(base / who), "-s", "/bin/sh", *extra, name)
            if proc.returncode != 0:
                pytest.skip(f"useradd failed: {proc.stderr.strip()}")
            created.append(name)
            entry = pwd.getpwnam(name)
            user = User(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))
            user.home.chmod(0o755)
            user.work.mkdir()
            os.chown(user.work, user.uid, user.gid)
            made[who] = user
        result = Users(made["alice"], made["bob"], made["carol"], grp.getgrnam(group).gr_gid)
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
class MuDaemon(Daemon):
    """A root `mlrp up` (multi-user or personal mode) on its own temporary home."""

    gpus: int = 4

    def all_ids(self) -> set[int]:
        return {row["id"] for row in self.client.jobs(states=[s.value for s in JobState])}

    def stop(self) -> None:
        """Cancel whatever is still active (jobs outlive the daemon), then stop it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            if self.client.jobs(states=["PENDING", "RUNNING"]):
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


def _daemon(users: Users, mode: str) -> Iterator[MuDaemon]:
    home = Path(tempfile.mkdtemp(prefix="mlrp-mu-", dir="/tmp"))  # short: socket paths
    home.chmod(0o755)
    config = f'[daemon]\nadmins = ["{users.carol.name}"]\ngrace = 2\n'
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
    yield from _daemon(users, "multi-user")


@pytest.fixture
def personal(users: Users) -> Iterator[MuDaemon]:
    """A root daemon in personal mode."""
    yield from _daemon(users, "personal")


@pytest.fixture
def root_files() -> Iterator[list[Path]]:
    """Paths under /etc that a test creates as root; removed afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- helpers


def submit(
    users: Users, mu: MuDaemon, user: User, *args: str, env: dict[str, str] | None = None
) -> int:
    result = users.mlrp(user, mu.home, "submit", "--parsable", *args, env=env, cwd=user.work)
    assert result.code == 0, result.text
    return int(result.out.strip().split("_")[0])


def refused(result: Result, *words: str) -> None:
    """A clean refusal: exit 1, an `error:` line giving the reason, no traceback."""
    assert result.code == 1, result.text
    assert "error:" in result.err, result.text
    assert "Traceback" not in result.err, result.text
    for word in words:
        assert word in result.err, result.text


def queue_rows(users: Users, mu: MuDaemon, user: User) -> dict[str, dict[str, str]]:
    """`mlrp queue` as `user`, parsed: JOBID -> {column: value}."""
    result = users.mlrp(user, mu.home, "queue")
    assert result.code == 0, result.text
    lines = result.out.splitlines()
    header = lines[0].split()
    return {line.split()[0]: dict(zip(header, line.split(), strict=False)) for line in lines[1:]}


def as_root(mu: MuDaemon, *args: str, cwd: Path | None = None) -> Result:
    """The CLI as root, in its own process."""
    proc = subprocess.run(
        [str(VENV_MLRP), *args], capture_output=True, text=True, timeout=60, cwd=cwd,
        env={**os.environ, "MLRP_HOME": str(mu.home)},
    )  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)


def fingerprint(path: Path) -> tuple[int, int, int, int, float, str]:
    st = path.lstat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return st.st_uid, st.st_gid, st.st_mode, st.st_size, st.st_mtime, digest


def root_only_file(root_files: list[Path], name: str, text: str) -> Path:
    path = Path("/etc") / name
    root_files.append(path)
    path.write_text(text)
    os.chown(path, 0, 0)
    path.chmod(0o600)
    return path


# ----------------------------------------------------------------------------- identity


def test_the_socket_is_open_and_names_each_caller(users: Users, mu: MuDaemon) -> None:
    assert Path(mu.socket).stat().st_mode & 0o777 == 0o666
    assert mu.client.whoami() == {
        "user": "root",
        "uid": 0,
        "is_admin": True,
        "multi_user": True,
        "backend": "local",
    }
    python = users.cli[0] if len(users.cli) > 1 else str(VENV_MLRP.parent / "python")
    probe = "import json; from mlrp.client import Client; print(json.dumps(Client().whoami()))"
    for user, admin in ((users.alice, False), (users.bob, False), (users.carol, True)):
        env = {**users.cli_env, "MLRP_HOME": str(mu.home)}
        result = users.run(user, [python, "-c", probe], env=env)
        assert result.code == 0, result.text
        me = json.loads(result.out)
        assert (me["user"], me["uid"], me["is_admin"]) == (user.name, user.uid, admin)


def test_a_uid_without_a_user_name_is_refused(users: Users, mu: MuDaemon) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv")
    uid = 61000 + secrets.randbelow(3000)
    with contextlib.suppress(KeyError):
        pwd.getpwuid(uid)
        pytest.skip(f"uid {uid} exists here")
    env = [f"{k}={v}" for k, v in {**users.cli_env, "MLRP_HOME": str(mu.home)}.items()]
    proc = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "env", "-i",
         "PATH=/usr/bin:/bin", *env, *users.cli, "queue"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    refused(Result(proc.returncode, proc.stdout, proc.stderr), f"uid {uid} has no user name")


def test_a_job_runs_as_its_submitter(users: Users, mu: MuDaemon) -> None:
    alice = users.alice
    mark = f"alice-{secrets.token_hex(4)}"
    command = (
        'echo "UID=$(id -u)"; echo "GID=$(id -g)"; echo "GROUPS=$(id -G)"; '
        'echo "HOME=$HOME"; echo "PWD=$(pwd)"; echo "MARK=$MLRP_MU_MARK"; echo "USER=$USER"'
    )
    job_id = submit(users, mu, alice, "--wrap", command, env={"MLRP_MU_MARK": mark})
    job = mu.wait(job_id)
    assert job["state"] == "COMPLETED", job["message"]
    assert (job["user"], job["uid"], job["gid"]) == (alice.name, alice.uid, alice.gid)

    logs = users.mlrp(alice, mu.home, "logs", str(job_id))
    assert logs.code == 0, logs.text
    seen = dict(line.split("=", 1) for line in logs.out.splitlines() if "=" in line)
    assert seen["UID"] == str(alice.uid)
    assert seen["GID"] == str(alice.gid)
    # Her groups, the supplementary one included, and nothing of root's.
    assert {int(g) for g in seen["GROUPS"].split()} == {alice.gid, users.group_gid}
    assert seen["HOME"] == str(alice.home)
    assert os.path.realpath(seen["PWD"]) == os.path.realpath(alice.work)
    assert seen["MARK"] == mark  # her environment
    assert seen["USER"] == alice.name

    # The default output lies in the job's folder: hers, and closed to everyone else.
    out = Path(job["stdout_path"])
    assert out.parent == mu.home / "jobs" / str(job_id)
    assert (out.stat().st_uid, out.stat().st_gid) == (alice.uid, alice.gid)
    folder = out.parent.stat()
    assert (folder.st_uid, folder.st_gid) == (alice.uid, alice.gid)
    assert stat.S_IMODE(folder.st_mode) == 0o700


def test_an_output_file_in_the_workdir_belongs_to_the_submitter(users: Users, mu: MuDaemon) -> None:
    alice = users.alice
    job_id = submit(users, mu, alice, "--output=result-%j.txt", "--", "id", "-un")
    job = mu.wait(job_id)
    assert job["state"] == "COMPLETED", job["message"]
    result = alice.work / f"result-{job_id}.txt"
    st = result.stat()
    assert (st.st_uid, st.st_gid) == (alice.uid, alice.gid)
    assert result.read_text().strip() == alice.name


# ----------------------------------------------------------------------------- control


def test_the_queue_names_the_owner_and_others_cannot_act_on_a_job(
    users: Users, mu: MuDaemon
) -> None:
    alice, bob = users.alice, users.bob
    running = submit(users, mu, alice, *SLEEP)
    held = submit(users, mu, alice, "--hold", *SLEEP)
    later = submit(users, mu, alice, "--begin=now+1hour", *SLEEP)
    mu.wait(running, {"RUNNING"})

    for viewer in (alice, bob):
        rows = queue_rows(users, mu, viewer)
        for job_id in (running, held, later):
            assert rows[str(job_id)]["USER"] == alice.name

    refused(users.mlrp(bob, mu.home, "cancel", str(running)), "belongs to", alice.name)
    refused(users.mlrp(bob, mu.home, "hold", str(later)), "belongs to", alice.name)
    refused(users.mlrp(bob, mu.home, "release", str(held)), "belongs to", alice.name)
    # A filter selects the same jobs: still refused, and all or nothing.
    refused(users.mlrp(bob, mu.home, "cancel", "--user", alice.name), "belongs to")
    assert mu.job(running)["state"] == "RUNNING"
    assert mu.job(held)["held"] is True
    assert (mu.job(later)["state"], mu.job(later)["held"]) == ("PENDING", False)

    # Her own jobs: she may.
    assert users.mlrp(alice, mu.home, "release", str(held)).code == 0
    done = users.mlrp(alice, mu.home, "cancel", str(running), str(held), str(later))
    assert done.code == 0, done.text
    for job_id in (running, held, later):
        assert mu.wait(job_id)["state"] == "CANCELLED"
    assert f"cancelled by {alice.name}" in (mu.job(running)["message"] or "")


def test_an_admin_and_root_may_cancel_any_job(users: Users, mu: MuDaemon) -> None:
    bob, carol = users.bob, users.carol
    first = submit(users, mu, bob, *SLEEP)
    second = submit(users, mu, bob, "--hold", *SLEEP)
    third = submit(users, mu, bob, *SLEEP)
    mu.wait(first, {"RUNNING"})
    mu.wait(third, {"RUNNING"})

    # carol is named in [daemon] admins.
    assert users.mlrp(carol, mu.home, "release", str(second)).code == 0
    done = users.mlrp(carol, mu.home, "cancel", str(first), str(second))
    assert done.code == 0, done.text
    assert mu.wait(first)["state"] == "CANCELLED"
    assert mu.wait(second)["state"] == "CANCELLED"
    assert f"cancelled by {carol.name}" in (mu.job(first)["message"] or "")

    done = as_root(mu, "cancel", str(third))
    assert done.code == 0, done.text
    assert mu.wait(third)["state"] == "CANCELLED"
    assert "cancelled by root" in (mu.job(third)["message"] or "")


def test_as_user_and_admin_powers_are_refused_to_users(users: Users, mu: MuDaemon) -> None:
    bob = users.bob
    before = mu.all_ids()
    result = users.mlrp(bob, mu.home, "submit", "--as-user", users.alice.name, "--", "true")
    refused(result, "only an admin", "--as-user")
    refused(users.mlrp(bob, mu.home, "submit", f"--as-user={bob.name}", "--", "true"), "admin")
    refused(users.mlrp(bob, mu.home, "submit", "--nice=-100", "--", "true"), "admin")
    assert mu.all_ids() == before  # nothing recorded
    refused(users.mlrp(bob, mu.home, "down"), "admin")
    assert mu.client.whoami()["multi_user"] is True  # still up


def test_root_may_submit_as_another_user(users: Users, mu: MuDaemon) -> None:
    carol = users.carol
    command = 'echo "$(id -un) $(id -u) $(id -g)"; pwd; echo "$HOME $USER $LOGNAME"'
    result = as_root(mu, "submit", "--parsable", "--as-user", carol.name,
                     "--output=as-user-%j.txt", "--wrap", command, cwd=carol.work)  # fmt: skip
    assert result.code == 0, result.text
    job_id = int(result.out.strip())
    job = mu.wait(job_id)
    assert job["state"] == "COMPLETED", job["message"]
    assert (job["user"], job["uid"], job["gid"]) == (carol.name, carol.uid, carol.gid)
    out = carol.work / f"as-user-{job_id}.txt"
    assert (out.stat().st_uid, out.stat().st_gid) == (carol.uid, carol.gid)
    who, where, identity = out.read_text().splitlines()
    assert who == f"{carol.name} {carol.uid} {carol.gid}"
    assert os.path.realpath(where) == os.path.realpath(carol.work)
    assert identity == f"{carol.home} {carol.name} {carol.name}"  # not root's HOME/USER
    # The job is carol's: her logs, not bob's to read.
    assert users.mlrp(carol, mu.home, "logs", str(job_id)).code == 0
    refused(users.mlrp(users.bob, mu.home, "logs", str(job_id)), "belong to")


# ----------------------------------------------------------------------------- privacy


def test_others_see_metadata_but_not_logs_env_command_or_script(users: Users, mu: MuDaemon) -> None:
    alice, bob = users.alice, users.bob
    mark = f"secret{secrets.token_hex(4)}"
    script = alice.work / "train.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH --job-name=train\necho {mark}-out\nsleep 300\n")
    os.chown(script, alice.uid, alice.gid)
    job_id = submit(users, mu, alice, "train.sh", f"{mark}-arg", env={"MLRP_MU_MARK": mark})
    command_job = submit(users, mu, alice, "--job-name=cmd", "--", "sleep", "300", mark)
    mu.wait(job_id, {"RUNNING"})
    mu.wait(command_job, {"RUNNING"})

    # bob: the queue's metadata, nothing private.
    shown = users.mlrp(bob, mu.home, "show", "--json", str(job_id))
    assert shown.code == 0, shown.text
    data = json.loads(shown.out)
    assert (data["user"], data["state"], data["name"]) == (alice.name, "RUNNING", "train")
    for key in ("env", "argv", "script", "script_args"):
        assert key not in data["spec"], key
    assert mark not in shown.out
    text = users.mlrp(bob, mu.home, "show", str(command_job))
    assert text.code == 0, text.text
    assert f"User={alice.name}" in text.out
    assert "Command=" not in text.out and mark not in text.out

    refused(users.mlrp(bob, mu.home, "logs", str(job_id)), "belong to", alice.name)
    refused(users.mlrp(bob, mu.home, "logs", "--err", str(job_id)), "belong to")

    # alice and the admin see everything.
    for viewer in (alice, users.carol):
        mine = users.mlrp(viewer, mu.home, "show", "--json", str(job_id))
        assert mine.code == 0, mine.text
        spec = json.loads(mine.out)["spec"]
        assert spec["env"]["MLRP_MU_MARK"] == mark
        assert f"echo {mark}-out" in spec["script"]
        assert spec["script_args"] == [f"{mark}-arg"]
    own = users.mlrp(alice, mu.home, "show", str(command_job))
    assert f"Command=sleep 300 {mark}" in own.out, own.text
    logs = users.mlrp(alice, mu.home, "logs", str(job_id))
    assert logs.code == 0 and f"{mark}-out" in logs.out, logs.text

    assert users.mlrp(alice, mu.home, "cancel", str(job_id), str(command_job)).code == 0
    mu.wait(job_id)
    mu.wait(command_job)


def test_job_folders_are_private_to_their_owner(users: Users, mu: MuDaemon) -> None:
    alice, bob = users.alice, users.bob
    mark = f"private{secrets.token_hex(4)}"
    script = alice.work / "private.sh"
    script.write_text(f"#!/bin/sh\n# {mark}-script\necho {mark}-out\necho {mark}-err >&2\n")
    os.chown(script, alice.uid, alice.gid)
    job_id = submit(users, mu, alice, "private.sh")
    assert mu.wait(job_id)["state"] == "COMPLETED"
    folder = mu.home / "jobs" / str(job_id)
    assert {p.name for p in folder.iterdir()} >= {"script", "out.log", "err.log"}

    # Neither bob at his shell ...
    for path in (folder / "out.log", folder / "err.log", folder / "script"):
        read = users.run(bob, ["cat", str(path)])
        assert read.code != 0 and mark not in read.out, read.text
    assert users.run(bob, ["ls", str(folder)]).code != 0
    # ... nor a job of his.
    peek = f"cat {folder}/out.log {folder}/err.log {folder}/script 2>&1; ls {folder} 2>&1; true"
    spy = submit(users, mu, bob, "--wrap", peek)
    assert mu.wait(spy)["state"] == "COMPLETED"
    seen = users.mlrp(bob, mu.home, "logs", str(spy))
    assert seen.code == 0, seen.text
    assert mark not in seen.out
    assert "Permission denied" in seen.out
    # alice reaches her own files directly too.
    mine = users.run(alice, ["cat", str(folder / "out.log")])
    assert mine.code == 0 and f"{mark}-out" in mine.out, mine.text


def test_the_state_database_is_private(users: Users, mu: MuDaemon) -> None:
    """It holds every job's spec: environment, command and script."""
    mark = f"dbsecret{secrets.token_hex(4)}"
    job_id = submit(users, mu, users.alice, "--", "echo", mark, env={"MLRP_MU_MARK": mark})
    mu.wait(job_id)
    files = sorted(mu.home.glob("state.db*"))
    assert files
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path}: {oct(path.stat().st_mode)}"
        read = users.run(users.bob, ["cat", str(path)])
        assert read.code != 0 and mark not in read.out, path


# ----------------------------------------------------------------------------- files


def test_output_to_a_file_the_user_cannot_write_fails(
    users: Users, mu: MuDaemon, root_files: list[Path]
) -> None:
    bob = users.bob
    tag = secrets.token_hex(4)
    target = root_only_file(root_files, f"mlrp-test-forbidden-{tag}", f"original {tag}\n")
    target.chmod(0o644)
    folder = Path(f"/etc/mlrp-test-forbidden-{tag}.d")
    root_files.append(folder)
    folder.mkdir(mode=0o755)
    before = fingerprint(target)

    to_stderr = ["--output=fine.txt", f"--error={target}", "--", "sh", "-c", "echo x >&2"]
    attempts = {
        "file": submit(users, mu, bob, f"--output={target}", "--", "echo", "pwned"),
        "stderr": submit(users, mu, bob, *to_stderr),
        "new file": submit(users, mu, bob, f"--output={folder}/new.txt", "--", "echo", "x"),
    }
    for what, job_id in attempts.items():
        job = mu.wait(job_id)
        assert job["state"] == "FAILED", (what, job)
        assert "cannot open output file" in (job["message"] or ""), (what, job)
    assert fingerprint(target) == before
    assert list(folder.iterdir()) == []

    # Nor may bob read it through `mlrp logs`: the file is not his.
    target.chmod(0o600)
    for args in (["logs", str(attempts["file"])], ["logs", "--err", str(attempts["stderr"])]):
        result = users.mlrp(bob, mu.home, *args)
        refused(result, "not owned by")
        assert tag not in result.out


def test_logs_do_not_follow_a_symlink_to_a_root_only_file(
    users: Users, mu: MuDaemon, root_files: list[Path]
) -> None:
    bob = users.bob
    tag = secrets.token_hex(4)
    secret = root_only_file(root_files, f"mlrp-test-secret-{tag}", f"root-only {tag}\n")
    shadow_before = fingerprint(Path("/etc/shadow"))

    # 1. The output path is a symlink to /etc/shadow from the start: the job, opening it
    #    as bob, cannot write there, and `mlrp logs` does not show it.
    assert users.run(bob, ["ln", "-s", "/etc/shadow", "shadow.out"], cwd=bob.work).code == 0
    first = submit(users, mu, bob, "--output=shadow.out", "--", "echo", "pwned")
    assert mu.wait(first)["state"] == "FAILED"
    assert fingerprint(Path("/etc/shadow")) == shadow_before
    result = users.mlrp(bob, mu.home, "logs", str(first))
    assert result.code == 1 and "root:" not in result.out, result.text

    # 2. A normal output, replaced after the job by a symlink to a root-only file.
    second = submit(users, mu, bob, "--output=swap.out", "--", "echo", "fine")
    assert mu.wait(second)["state"] == "COMPLETED"
    assert users.mlrp(bob, mu.home, "logs", str(second)).out == "fine\n"
    swap = f"rm swap.out && ln -s {secret} swap.out"
    assert users.run(bob, ["sh", "-c", swap], cwd=bob.work).code == 0
    result = users.mlrp(bob, mu.home, "logs", str(second))
    assert result.code == 1 and tag not in result.out, result.text

    # 3. A directory on the way replaced by a symlink: the file found is root's.
    third = submit(users, mu, bob, f"--output=dir/{secret.name}", "--", "echo", "fine")
    # (the directory must exist while the job runs)
    assert mu.wait(third)["state"] == "FAILED"  # no dir yet: cannot open
    assert users.run(bob, ["mkdir", "dir"], cwd=bob.work).code == 0
    fourth = submit(users, mu, bob, f"--output=dir/{secret.name}", "--", "echo", "fine")
    assert mu.wait(fourth)["state"] == "COMPLETED"
    swap = "rm -r dir && ln -s /etc dir"
    assert users.run(bob, ["sh", "-c", swap], cwd=bob.work).code == 0
    result = users.mlrp(bob, mu.home, "logs", str(fourth))
    assert result.code == 1 and tag not in result.out, result.text
    assert "not owned by" in result.err

    # 4. The default output in the job's folder, replaced by bob (he owns the folder).
    fifth = submit(users, mu, bob, "--", "echo", "fine")
    assert mu.wait(fifth)["state"] == "COMPLETED"
    out = mu.home / "jobs" / str(fifth) / "out.log"
    swap = f"rm {out} && ln -s /etc/shadow {out}"
    assert users.run(bob, ["sh", "-c", swap]).code == 0
    result = users.mlrp(bob, mu.home, "logs", str(fifth))
    assert result.code == 1 and "root:" not in result.out, result.text
    assert fingerprint(Path("/etc/shadow")) == shadow_before


def test_logs_of_a_fifo_do_not_block_the_daemon(users: Users, mu: MuDaemon) -> None:
    """A user's output file replaced by a named pipe: reading it must not hang the
    (single-threaded) daemon for everyone."""
    bob = users.bob
    job_id = submit(users, mu, bob, "--output=pipe.out", "--", "echo", "fine")
    assert mu.wait(job_id)["state"] == "COMPLETED"
    assert users.run(bob, ["sh", "-c", "rm pipe.out && mkfifo pipe.out"], cwd=bob.work).code == 0
    env = [f"{k}={v}" for k, v in {**users.cli_env, "MLRP_HOME": str(mu.home)}.items()]
    reader = subprocess.Popen(
        ["runuser", "-u", bob.name, "--", "env", "-i", "PATH=/usr/bin:/bin", *env,
         *users.cli, "logs", str(job_id)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=bob.work,
    )  # fmt: skip
    try:
        out, err = reader.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        # Unblock the daemon (a writer on the pipe ends its read) before failing.
        fd = os.open(bob.work / "pipe.out", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        reader.kill()
        reader.communicate()
        pytest.fail("`mlrp logs` on a FIFO blocked the daemon")
    assert reader.returncode == 1, (out, err)
    assert "is not a regular file" in err, err
    assert mu.client.whoami()["user"] == "root"  # the daemon still answers


def test_a_planted_script_symlink_is_not_followed_as_root(
    users: Users, mu: MuDaemon, root_files: list[Path]
) -> None:
    """The daemon (root) writes a batch job's script into the job's folder, which the job's
    user owns (it is reused on a requeue, and the user can race for it at the first
    start): a symlink planted there must not make root write, chmod or chown its
    target."""
    alice = users.alice
    tag = secrets.token_hex(4)
    victim = root_only_file(root_files, f"mlrp-test-victim-{tag}", f"victim {tag}\n")
    victim.chmod(0o644)
    before = fingerprint(victim)
    script = alice.work / "planted.sh"
    script.write_text(f"#!/bin/sh\necho ran-{tag}\n")
    os.chown(script, alice.uid, alice.gid)
    job_id = submit(users, mu, alice, "--hold", "planted.sh")

    folder = mu.home / "jobs" / str(job_id)  # as the daemon leaves it: hers
    folder.mkdir(mode=0o700, parents=True)
    os.chown(folder, alice.uid, alice.gid)
    planted = users.run(alice, ["ln", "-s", str(victim), str(folder / "script")])
    assert planted.code == 0, planted.text
    assert users.mlrp(alice, mu.home, "release", str(job_id)).code == 0

    job = mu.wait(job_id)
    assert fingerprint(victim) == before
    assert job["state"] == "COMPLETED", job["message"]
    logs = users.mlrp(alice, mu.home, "logs", str(job_id))
    assert logs.out == f"ran-{tag}\n", logs.text
    written = (folder / "script").lstat()
    assert stat.S_ISREG(written.st_mode)
    assert (written.st_uid, stat.S_IMODE(written.st_mode)) == (alice.uid, 0o700)


def test_a_job_whose_user_was_removed_fails_instead_of_hanging(users: Users, mu: MuDaemon) -> None:
    """Deleted between submission and start: the job fails with a reason (it used to
    stay RUNNING for ever, with no process behind it)."""
    name = f"mlrp_dave_{secrets.token_hex(3)}"
    assert _tool("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name).returncode == 0
    try:
        dave = User(name, pwd.getpwnam(name).pw_uid, pwd.getpwnam(name).pw_gid, Path("/"))
        result = users.mlrp(
            dave, mu.home, "submit", "--parsable", "--hold", "--", "true", cwd=Path("/")
        )
        assert result.code == 0, result.text
        job_id = int(result.out)
    finally:
        _tool("userdel", name)
    assert as_root(mu, "release", str(job_id)).code == 0
    job = mu.wait(job_id)
    assert job["state"] == "FAILED", job
    assert "launch failed" in (job["message"] or ""), job


# ----------------------------------------------------------------------------- personal


def test_personal_mode_refuses_other_users(users: Users, personal: MuDaemon) -> None:
    assert personal.client.whoami()["multi_user"] is False
    assert stat.S_IMODE(Path(personal.socket).stat().st_mode) == 0o600
    assert stat.S_IMODE(personal.home.stat().st_mode) == 0o700
    for user in (users.bob, users.carol):  # carol's admin rights are for multi-user mode
        result = users.mlrp(user, personal.home, "queue")
        refused(result, "not allowed to reach the daemon")
        result = users.mlrp(user, personal.home, "submit", "--", "true")
        refused(result, "not allowed to reach the daemon")
    assert personal.all_ids() == set()
