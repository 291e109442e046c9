"""The Slurm backend on the real test cluster: what only Slurm mode does, end to end.

Through the CLI and the Python client of a multi-user (root) daemon in Slurm mode;
Slurm's own commands are asked only to check what Slurm itself recorded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slurm_support import Cluster, UserCli, eventually, user_cli, wait_state

from daemon_harness import Daemon
from mlrp.errors import InvalidSpec, Unsatisfiable


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="mlrp-slurm-work-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def submit(daemon: Daemon, workdir: Path, *args: str) -> int:
    result = daemon.cli("submit", "--parsable", f"--chdir={workdir}", *args)
    assert result.code == 0, result.err
    return int(result.out.strip().split("_")[0])


def refused(result: object, *words: str) -> None:
    """A clean refusal: exit 1, an `error:` line with `words`, no traceback."""
    code, err = result.code, result.err  # type: ignore[attr-defined]
    assert code == 1, err
    assert "error:" in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def daemon_queue(daemon: Daemon) -> str:
    return daemon.cli("queue", "--json").out


def active_ids(cluster: Cluster) -> set[str]:
    out = cluster.run("squeue", "-h", "-r", "-o", "%i").stdout
    return set(out.split())


# ------------------------------------------------------------------- what a job sees

HOSTILE_NAME = "a \"b\" 'c' $HOME `id` \\ #x é 日本 hetjob"
HOSTILE_ARG = "arg with 'quotes' \"both\" $(id) `id` \\back\nnew line; #SBATCH --gres=gpu:8"
HOSTILE_ENV = "line1\nline2 $PATH `id` \\ \" ' é\n#SBATCH --hold"
WRITE_ALL = (
    'printf "%s" "$1" > "$2"; printf "%s" "$SLURM_JOB_NAME" > "$3"; printf "%s" "$HOSTILE" > "$4"'
)


def test_names_commands_and_environment_reach_the_job_byte_for_byte(
    slurm_daemon: Daemon, workdir: Path
) -> None:
    files = [workdir / f"seen-{what}" for what in ("arg", "name", "env")]
    spec = {
        "name": HOSTILE_NAME,
        "argv": ["sh", "-c", WRITE_ALL, "sh", HOSTILE_ARG, *map(str, files)],
        "env": {"HOSTILE": HOSTILE_ENV, "PATH": "/usr/bin:/bin"},
        "workdir": str(workdir),
    }
    job_id = slurm_daemon.client.submit(spec)["ids"][0]
    job = wait_state(slurm_daemon, job_id)
    assert job["state"] == "COMPLETED", job
    assert [f.read_bytes().decode() for f in files] == [HOSTILE_ARG, HOSTILE_NAME, HOSTILE_ENV]
    assert job["name"] == HOSTILE_NAME and job["spec"]["gpus"] == 0  # no injected --gres


def test_a_batch_script_runs_as_written_with_its_arguments(
    slurm_daemon: Daemon, workdir: Path
) -> None:
    script = workdir / "train.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH --job-name=from-script\n#SBATCH --time=10\n"
        'printf "%s|%s|%s" "$SLURM_JOB_NAME" "$1" "$#" > "$2"\n'
    )
    out = workdir / "script-out"
    job_id = submit(slurm_daemon, workdir, "-J", "from-cli", str(script), "it's $1", str(out))
    assert wait_state(slurm_daemon, job_id)["state"] == "COMPLETED"
    # The command line wins over the script's own #SBATCH lines, as with sbatch.
    assert out.read_text() == "from-cli|it's $1|2"
    assert slurm_daemon.job(job_id)["time_limit"] == 600


def test_a_name_that_would_break_a_directive_is_refused(
    slurm_daemon: Daemon, slurm_cluster: Cluster, workdir: Path
) -> None:
    before = active_ids(slurm_cluster)
    result = slurm_daemon.cli(
        "submit", f"--chdir={workdir}", "-J", "ok\n#SBATCH --gres=gpu:8", "--", "true"
    )
    refused(result, "line break")
    with pytest.raises(InvalidSpec, match="line break"):
        slurm_daemon.client.submit({"argv": ["true"], "output": "a\nb", "workdir": str(workdir)})
    assert active_ids(slurm_cluster) == before


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--account=teamb"], ["account 'teamb'", "--account"]),
        (["-p", "nope"], ["partition 'nope'", "--partition"]),
        (["--gres=gpu:a100:1"], ["GPUs per node gpu:a100:1", "MODELS"]),
        (["--mem=99999999"], ["memory", "--mem"]),
    ],
)
def test_slurms_refusals_say_what_to_change(
    slurm_daemon: Daemon, workdir: Path, args: list[str], words: list[str]
) -> None:
    result = slurm_daemon.cli("submit", f"--chdir={workdir}", *args, "--", "true")
    refused(result, *words)


def test_a_job_slurm_accepts_but_cannot_place_shows_slurms_reason(
    slurm_daemon: Daemon, workdir: Path
) -> None:
    job_id = submit(slurm_daemon, workdir, "-N", "9", "--", "true")
    job = eventually(
        lambda: (j := slurm_daemon.job(job_id))["slurm_reason"] == "PartitionNodeLimit" and j
    )
    assert (job["state"], job["reason"]) == ("PENDING", "PartitionNodeLimit")
    assert "more nodes than its partition" in job["reason_text"]
    table = slurm_daemon.cli("queue").out
    assert any(
        f"{job_id} " in line and "(PartitionNodeLimit)" in line for line in table.split("\n")
    )
    slurm_daemon.cli("cancel", str(job_id))


def test_a_batch_is_all_or_nothing(
    slurm_daemon: Daemon, slurm_cluster: Cluster, workdir: Path
) -> None:
    good = {"name": "batch-all-or-none", "argv": ["sleep", "60"], "workdir": str(workdir)}
    bad = {**good, "partition": "nope"}
    with pytest.raises(Unsatisfiable, match="partition 'nope'"):
        slurm_daemon.client.submit_batch([good, good, bad, good])
    names = slurm_cluster.run("squeue", "-h", "-o", "%j %T").stdout.split("\n")
    assert not [line for line in names if line.startswith("batch-all-or-none ")]


# ------------------------------------------------------------------ Slurm's own forms


def test_multi_node_tasks_get_a_launcher_environment(slurm_daemon: Daemon, workdir: Path) -> None:
    show = 'echo "$RANK $LOCAL_RANK $NODE_RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT"'
    job_id = submit(
        slurm_daemon, workdir, "-N", "2", "--ntasks-per-node=2", "--gpus-per-node=1",
        "-o", "launch-%j.txt", "--", "sh", "-c", show,
    )  # fmt: skip
    job = wait_state(slurm_daemon, job_id)
    assert job["state"] == "COMPLETED" and job["nodelist"] == "n[1-2]"
    lines = [line.split() for line in (workdir / f"launch-{job_id}.txt").read_text().splitlines()]
    assert sorted(int(rank) for rank, *_ in lines) == [0, 1, 2, 3]
    assert sorted(line[1] for line in lines) == ["0", "0", "1", "1"]
    assert sorted(line[2] for line in lines) == ["0", "0", "1", "1"]
    assert {tuple(line[3:]) for line in lines} == {(lines[0][3], lines[0][4], lines[0][5])}
    assert lines[0][3] == "4"


def test_array_task_ids_are_slurms(
    slurm_daemon: Daemon, slurm_cluster: Cluster, workdir: Path
) -> None:
    array_id = submit(slurm_daemon, workdir, "--hold", "--array=0-3%2", "--", "true")
    slurms = {i for i in active_ids(slurm_cluster) if i.startswith(f"{array_id}_")}
    rows = json.loads(slurm_daemon.cli("queue", "--json").out)
    ours = {row["display_id"] for row in rows if row["array_job_id"] == array_id}
    assert ours == slurms == {f"{array_id}_{i}" for i in range(4)}
    assert slurm_daemon.cli("cancel", f"{array_id}_2").code == 0
    eventually(lambda: slurm_daemon.job(array_id)["state"] in ("PENDING", "CANCELLED"))
    assert f"{array_id}_2" not in active_ids(slurm_cluster)
    assert slurm_daemon.cli("cancel", str(array_id)).code == 0
    eventually(lambda: not any(i.startswith(f"{array_id}_") for i in active_ids(slurm_cluster)))


def test_dry_run_prints_the_sbatch_script_and_submits_nothing(
    slurm_daemon: Daemon, slurm_cluster: Cluster, workdir: Path
) -> None:
    before = active_ids(slurm_cluster)
    result = slurm_daemon.cli(
        "submit", "--dry-run", f"--chdir={workdir}", "-J", "dry", "-t", "5", "--gpus=2",
        "--", "python", "train.py", "--lr", "1e-3 $X",
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "#!/bin/bash"
    for directive in ("--job-name=dry", "--time=0-00:05:00", "--gres=gpu:2", f"--chdir={workdir}"):
        assert f"#SBATCH {directive}" in lines
    assert lines[-1] == "exec python train.py --lr '1e-3 $X'"
    assert active_ids(slurm_cluster) == before


def test_jobs_submitted_with_sbatch_are_shown_too(
    slurm_daemon: Daemon, slurm_cluster: Cluster, workdir: Path
) -> None:
    done = slurm_cluster.run(
        "sbatch", "--parsable", "-H", "-J", "plain-sbatch", f"--chdir={workdir}", "--wrap", "true"
    )
    job_id = int(done.stdout.strip())
    errors: list[str] = []

    def listed() -> list[dict[str, Any]]:
        result = slurm_daemon.cli("queue", "--json")
        if result.code != 0:  # a busy slurmctld may not answer in time: ask again
            errors.append(result.err)
            return []
        return [r for r in json.loads(result.out) if r["id"] == job_id]

    try:
        rows = eventually(listed, what="the job in mlrp queue")
    except AssertionError as e:
        raise AssertionError(f"{e}; last errors: {errors[-3:]}") from None
    assert (rows[0]["name"], rows[0]["state"], rows[0]["reason"]) == (
        "plain-sbatch", "PENDING", "JobHeldUser",
    )  # fmt: skip
    assert slurm_daemon.cli("cancel", str(job_id)).code == 0
    assert wait_state(slurm_daemon, job_id)["state"] == "CANCELLED"


# ---------------------------------------------------------------- the cluster's views


def test_nodes_gpus_and_shares_come_from_slurm(slurm_daemon: Daemon) -> None:
    nodes = json.loads(slurm_daemon.cli("nodes", "--json").out)
    assert [(n["name"], n["gpus"], n["source"]) for n in nodes] == [
        (f"n{i}", 8, "slurm") for i in range(1, 5)
    ]
    gpus = json.loads(slurm_daemon.cli("gpus", "--json").out)
    assert len(gpus) == 32
    shares = json.loads(slurm_daemon.cli("share", "--json").out)
    assert {(s["account"], s["user"]) for s in shares} >= {
        ("teama", None), ("teama", "alice"), ("teamb", None), ("teamb", "bob"),
    }  # fmt: skip
    table = slurm_daemon.cli("share").out
    assert "alice" in table and "teamb" in table


# -------------------------------------------------------------------------- identity


@pytest.fixture(scope="module")
def as_user() -> UserCli:
    cli = user_cli("alice")
    if cli is None:
        pytest.skip("no Python that the cluster's users may run can import mlrp")
    return cli


def test_jobs_are_submitted_and_cancelled_as_their_users(
    slurm_daemon: Daemon, slurm_cluster: Cluster, as_user: UserCli
) -> None:
    home = slurm_daemon.home
    result = as_user.run(
        "alice", home, "submit", "--parsable", "-J", "alices", "--", "sleep", "300"
    )
    assert result.code == 0, result.text
    job_id = int(result.out.strip())
    seen = slurm_cluster.run("squeue", "-h", "-j", str(job_id), "-o", "%u %a").stdout.split()
    assert seen == ["alice", "teama"]
    refused(as_user.run("bob", home, "cancel", str(job_id)), "bob", "permission denied")
    assert slurm_daemon.job(job_id)["state"] in ("PENDING", "RUNNING")
    assert as_user.run("alice", home, "cancel", str(job_id)).code == 0
    assert wait_state(slurm_daemon, job_id)["state"] == "CANCELLED"


def test_a_user_reads_their_own_logs_and_not_others(slurm_daemon: Daemon, as_user: UserCli) -> None:
    home = slurm_daemon.home
    result = as_user.run("alice", home, "submit", "--parsable", "--", "echo", "alice's output")
    assert result.code == 0, result.text
    job_id = int(result.out.strip())
    assert wait_state(slurm_daemon, job_id)["state"] == "COMPLETED"
    assert as_user.run("alice", home, "logs", str(job_id)).out == "alice's output\n"
    refused(as_user.run("bob", home, "logs", str(job_id)), "belong to alice")
    shown = json.loads(as_user.run("bob", home, "show", "--json", str(job_id)).out)
    assert "env" not in shown["spec"] and "argv" not in shown["spec"]
