"""Multi-user mode end to end: a root daemon, real users calling it through the CLI.

Who runs a job, who may act on it, what others may see of it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SKIP_REASON, VENV_MLRP, MuDaemon, Result, User, Users

pytestmark = [
    pytest.mark.multiuser,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]

SLEEP = ["--", "sleep", "300"]


def submit(users: Users, mu: MuDaemon, user: User, *args: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> int:  # fmt: skip
    result = users.mlrp(user, mu.home, "submit", "--parsable", *args, env=env,
                        cwd=cwd or user.work)  # fmt: skip
    assert result.code == 0, result.text
    return int(result.out.strip().split("_")[0])


def refused(result: Result, *words: str) -> None:
    """A clean refusal: exit 1, an `error:` line naming the reason, no traceback."""
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


def test_whoami_reports_the_caller(users: Users, mu: MuDaemon) -> None:
    # `mlrp up` as root in multi-user mode: the socket is open to every local user.
    assert mu.socket.stat().st_mode & 0o777 == 0o666
    assert mu.client.whoami()["multi_user"] is True
    probe = (
        "import json; from mlrp.client import Client; "
        "print(json.dumps(Client().whoami()))"
    )  # fmt: skip
    python = users.cli[0] if len(users.cli) > 1 else str(VENV_MLRP.parent / "python")
    for user, admin in ((users.alice, False), (users.bob, False), (users.carol, True)):
        result = users.run(user, [python, "-c", probe],
                           env={**users.cli_env, "MLRP_HOME": str(mu.home)})  # fmt: skip
        assert result.code == 0, result.text
        me = json.loads(result.out)
        assert (me["user"], me["uid"], me["is_admin"]) == (user.name, user.uid, admin)


def test_job_runs_as_its_submitter(users: Users, mu: MuDaemon) -> None:
    alice = users.alice
    mark = f"alice-{secrets.token_hex(4)}"
    command = ('echo "UID=$(id -u)"; echo "GID=$(id -g)"; echo "GROUPS=$(id -G)"; '
               'echo "HOME=$HOME"; echo "PWD=$(pwd)"; echo "MARK=$MLRP_MU_MARK"; '
               'echo "USER=$USER"; umask')  # fmt: skip
    job_id = submit(users, mu, alice, "--wrap", command, env={"MLRP_MU_MARK": mark})
    job = mu.wait(job_id)
    assert job["state"] == "COMPLETED", job
    assert (job["user"], job["uid"], job["gid"]) == (alice.name, alice.uid, alice.gid)

    logs = users.mlrp(alice, mu.home, "logs", str(job_id))
    assert logs.code == 0, logs.text
    seen = dict(line.split("=", 1) for line in logs.out.splitlines() if "=" in line)
    assert seen["UID"] == str(alice.uid)
    assert seen["GID"] == str(alice.gid)
    groups = {int(g) for g in seen["GROUPS"].split()}
    assert groups == {alice.gid, users.group_gid}  # her supplementary group, nothing of root's
    assert seen["HOME"] == str(alice.home)
    assert os.path.realpath(seen["PWD"]) == os.path.realpath(alice.work)
    assert seen["MARK"] == mark  # her own environment
    assert seen["USER"] == alice.name

    # The default output is in the job's folder, owned by her, in a folder only she reads.
    out = Path(job["stdout_path"])
    assert out.parent == mu.home / "jobs" / str(job_id)
    assert (out.stat().st_uid, out.stat().st_gid) == (alice.uid, alice.gid)
    folder = out.parent.stat()
    assert (folder.st_uid, folder.st_gid) == (alice.uid, alice.gid)
    assert folder.st_mode & 0o777 == 0o700


def test_output_file_in_workdir_is_owned_by_the_submitter(users: Users, mu: MuDaemon) -> None:
    alice = users.alice
    job_id = submit(users, mu, alice, "--output=result-%j.txt", "--", "id", "-un")
    assert mu.wait(job_id)["state"] == "COMPLETED"
    result = alice.work / f"result-{job_id}.txt"
    st = result.stat()
    assert (st.st_uid, st.st_gid) == (alice.uid, alice.gid)
    assert result.read_text().strip() == alice.name


def test_queue_shows_the_submitter_and_others_cannot_act_on_a_job(
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
    # Filters select the same jobs; the ownership check still applies, all or nothing.
    refused(users.mlrp(bob, mu.home, "cancel", "--user", alice.name), "belongs to")
    assert mu.job(running)["state"] == "RUNNING"
    assert mu.job(held)["held"] is True
    assert mu.job(later)["held"] is False
    assert mu.job(later)["state"] == "PENDING"

    # Her own jobs: she may.
    done = users.mlrp(alice, mu.home, "release", str(held))
    assert done.code == 0, done.text
    done = users.mlrp(alice, mu.home, "cancel", str(running), str(held), str(later))
    assert done.code == 0, done.text
    for job_id in (running, held, later):
        assert mu.wait(job_id)["state"] == "CANCELLED"
    assert f"cancelled by {alice.name}" in (mu.job(running)["message"] or "")


def test_admin_and_root_may_cancel_any_job(users: Users, mu: MuDaemon) -> None:
    bob, carol = users.bob, users.carol
    first = submit(users, mu, bob, *SLEEP)
    second = submit(users, mu, bob, *SLEEP)
    mu.wait(first, {"RUNNING"})
    mu.wait(second, {"RUNNING"})

    # carol is named in [daemon] admins.
    done = users.mlrp(carol, mu.home, "cancel", str(first))
    assert done.code == 0, done.text
    assert mu.wait(first)["state"] == "CANCELLED"
    assert f"cancelled by {carol.name}" in (mu.job(first)["message"] or "")

    # root, through the CLI as a separate process.
    proc = subprocess.run(
        [str(VENV_MLRP), "cancel", str(second)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "MLRP_HOME": str(mu.home)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert mu.wait(second)["state"] == "CANCELLED"
    assert "cancelled by root" in (mu.job(second)["message"] or "")


def test_others_see_metadata_but_not_logs_env_command_or_script(
    users: Users, mu: MuDaemon
) -> None:
    alice, bob = users.alice, users.bob
    mark = f"secret-{secrets.token_hex(4)}"
    script = alice.work / "train.sh"
    script.write_text(f"#!/bin/sh\n#SBATCH --job-name=train\necho {mark}-script\nsleep 300\n")
    os.chown(script, alice.uid, alice.gid)
    job_id = submit(users, mu, alice, "train.sh", f"{mark}-arg", env={"MLRP_MU_MARK": mark})
    command_job = submit(users, mu, alice, "--", "sleep", f"{mark.replace('secret-', '')}0")
    mu.wait(job_id, {"RUNNING"})

    # bob: the queue's metadata, nothing private.
    shown = users.mlrp(bob, mu.home, "show", "--json", str(job_id))
    assert shown.code == 0, shown.text
    data = json.loads(shown.out)
    assert data["user"] == alice.name
    assert data["state"] == "RUNNING"
    for key in ("env", "argv", "script", "script_args"):
        assert key not in data["spec"], key
    assert mark not in shown.out
    text = users.mlrp(bob, mu.home, "show", str(command_job))
    assert text.code == 0, text.text
    assert "Command=" not in text.out
    assert f"User={alice.name}" in text.out

    refused(users.mlrp(bob, mu.home, "logs", str(job_id)), "belong to", alice.name)
    refused(users.mlrp(bob, mu.home, "logs", "--err", str(job_id)), "belong to")
    # The job's folder and its files (the script, the output) are closed to bob too.
    folder = mu.home / "jobs" / str(job_id)
    for path in (folder, folder / "script", folder / "out.log"):
        read = users.run(bob, ["cat", str(path)])
        assert read.code != 0 and mark not in read.out, read.text
    listing = users.run(bob, ["ls", str(folder)])
    assert listing.code != 0, listing.text

    # alice (and the admin) see everything.
    for viewer in (alice, users.carol):
        mine = users.mlrp(viewer, mu.home, "show", "--json", str(job_id))
        assert mine.code == 0, mine.text
        spec = json.loads(mine.out)["spec"]
        assert spec["env"]["MLRP_MU_MARK"] == mark
        assert mark in spec["script"]
        assert spec["script_args"] == [f"{mark}-arg"]
    own = users.mlrp(alice, mu.home, "show", str(command_job))
    assert "Command=sleep" in own.out
    logs = users.mlrp(alice, mu.home, "logs", str(job_id))
    assert logs.code == 0 and f"{mark}-script" in logs.out, logs.text

    assert users.mlrp(alice, mu.home, "cancel", str(job_id), str(command_job)).code == 0
    mu.wait(job_id)
    mu.wait(command_job)


def test_the_state_database_is_not_readable_by_users(users: Users, mu: MuDaemon) -> None:
    """The database holds every job's spec (environment, command, script)."""
    mark = f"dbsecret-{secrets.token_hex(4)}"
    job_id = submit(users, mu, users.alice, "--", "true", env={"MLRP_MU_MARK": mark})
    mu.wait(job_id)
    files = sorted(mu.home.glob("state.db*"))
    assert files, "no database?"
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"
        read = users.run(users.bob, ["cat", str(path)])
        assert read.code != 0, path
        assert mark not in read.out


def test_as_user_is_refused_to_non_admins(users: Users, mu: MuDaemon) -> None:
    bob = users.bob
    result = users.mlrp(bob, mu.home, "submit", "--as-user", users.alice.name, "--", "true")
    refused(result, "only an admin", "--as-user")
    result = users.mlrp(bob, mu.home, "submit", f"--as-user={bob.name}x", "--", "true")
    refused(result, "only an admin")
    assert not mu.client.jobs(user=users.alice.name, states=["PENDING", "RUNNING"])
    # A negative nice (a priority boost) is for admins only, as well.
    refused(users.mlrp(bob, mu.home, "submit", "--nice=-100", "--", "true"), "admin")
    # Nor may bob stop the daemon.
    refused(users.mlrp(bob, mu.home, "down"), "admin")
    assert mu.client.whoami()["multi_user"] is True


def test_root_may_submit_as_another_user(users: Users, mu: MuDaemon) -> None:
    carol = users.carol
    command = 'echo "$(id -un) $(id -u) $(id -g)"; pwd'
    proc = subprocess.run(
        [str(VENV_MLRP), "submit", "--parsable", "--as-user", carol.name,
         "--output=as-user-%j.txt", "--wrap", command],
        capture_output=True, text=True, timeout=60, cwd=carol.work,
        env={**os.environ, "MLRP_HOME": str(mu.home)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    job = mu.wait(job_id)
    assert job["state"] == "COMPLETED", job
    assert (job["user"], job["uid"], job["gid"]) == (carol.name, carol.uid, carol.gid)
    out = carol.work / f"as-user-{job_id}.txt"
    assert out.stat().st_uid == carol.uid
    who, where = out.read_text().splitlines()
    assert who == f"{carol.name} {carol.uid} {carol.gid}"
    assert os.path.realpath(where) == os.path.realpath(carol.work)
    # carol owns it: she may read its logs, bob may not.
    assert users.mlrp(carol, mu.home, "logs", str(job_id)).code == 0
    refused(users.mlrp(users.bob, mu.home, "logs", str(job_id)), "belong to")


def test_the_daemon_runs_as_root_in_multi_user_mode() -> None:
    # Guard for the fixtures above: the daemon they start is root's.
    assert os.geteuid() == 0 and sys.platform == "linux"
