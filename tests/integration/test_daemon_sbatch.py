"""Batch scripts and task files through the daemon: #SBATCH directives (and command-line
flags overriding them), arrays with a %N throttle, dependencies, holds, begin times and
SkyPilot-style task YAML."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import (
    Gate,
    eventually,
    listing,
    log_text,
    max_concurrency,
    private_daemon,
    show,
    wait_reason,
)

from daemon_harness import Daemon

DIRECTIVES = """\
#!/bin/bash
#SBATCH --job-name=directed
#SBATCH --gres=gpu:2
#SBATCH --time=0:30
#SBATCH --output=out-%x-%j.log
echo "name=$MLRP_JOB_NAME gpus=$CUDA_VISIBLE_DEVICES limit=$MLRP_TIME_LIMIT"
"""


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """One daemon for these tests: each waits for its own jobs, which leave GPUs free."""
    with private_daemon() as shared:
        yield shared


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_sbatch_directives_are_honoured(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", DIRECTIVES)
    job_id = daemon.submit("--chdir", str(tmp_path), str(script))
    job = daemon.wait(job_id)
    assert job["state"] == "COMPLETED"
    assert job["name"] == "directed"
    assert job["time_limit"] == 30
    assert len(job["gpus"]) == 2
    output = tmp_path / f"out-directed-{job_id}.log"
    gpus = ",".join(str(g) for g in job["gpus"])
    assert output.read_text() == f"name=directed gpus={gpus} limit=30\n"
    assert show(daemon, job_id)["stdout_path"] == str(output)


def test_command_line_flags_override_directives(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", DIRECTIVES)
    job_id = daemon.submit(
        "--chdir", str(tmp_path), "--gpus", "1", "--job-name", "cli", "--time", "0:20",
        str(script),
    )  # fmt: skip
    job = daemon.wait(job_id)
    assert job["state"] == "COMPLETED"
    assert (job["name"], job["time_limit"], len(job["gpus"])) == ("cli", 20, 1)
    output = tmp_path / f"out-cli-{job_id}.log"  # the directive's pattern, the new name
    assert output.read_text() == f"name=cli gpus={job['gpus'][0]} limit=20\n"


def test_array_throttle_limits_running_tasks(daemon: Daemon, tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "array.sh",
        """\
        #!/bin/bash
        #SBATCH --job-name=sweep
        #SBATCH --array=0-5%2
        #SBATCH --gpus=1
        #SBATCH --output=arr-%A_%a.log
        echo "task $MLRP_ARRAY_TASK_ID of $MLRP_ARRAY_JOB_ID"
        sleep 0.6
        """,
    )
    first = daemon.submit("--chdir", str(tmp_path), str(script))

    def throttled() -> bool:
        rows = listing(daemon, "queue", "--name", "sweep")
        return any(r["reason"] == "JobArrayTaskLimit" for r in rows)

    eventually(throttled, what="tasks waiting for the array's %2 throttle")
    tasks = [t for t in listing(daemon, "history", "--name", "sweep") if t["id"] >= first]
    assert len(tasks) == 6
    ended = [daemon.wait(t["id"]) for t in tasks]
    assert {t["state"] for t in ended} == {"COMPLETED"}
    assert sorted(t["array_task_id"] for t in ended) == list(range(6))
    assert {t["array_job_id"] for t in ended} == {first}
    assert max_concurrency((t["start_time"], t["end_time"]) for t in ended) <= 2
    for task in ended:
        index = task["array_task_id"]
        text = (tmp_path / f"arr-{first}_{index}.log").read_text()
        assert text == f"task {index} of {first}\n"
    assert sorted(t["display_id"] for t in tasks) == [f"{first}_{i}" for i in range(6)]


def test_cancel_one_array_task_then_the_whole_array(daemon: Daemon) -> None:
    first = daemon.submit("--array", "0-3%1", "-J", "cancel-array", "--", "sleep", "30")
    daemon.wait(first, {"RUNNING"})  # task 0; the others wait for the throttle
    result = daemon.cli("cancel", f"{first}_2")
    assert result.code == 0 and result.out.split() == ["cancelled:", f"{first}_2"]
    states = {t["display_id"]: t["state"] for t in listing(daemon, "history", "-n", "cancel-array")}
    assert states == {
        f"{first}_0": "RUNNING", f"{first}_1": "PENDING", f"{first}_2": "CANCELLED",
        f"{first}_3": "PENDING",
    }  # fmt: skip
    result = daemon.cli("cancel", str(first))
    assert result.code == 0
    assert set(result.out.split()[1:]) == {f"{first}_0", f"{first}_1", f"{first}_3"}
    ended = [daemon.wait(t["id"]) for t in listing(daemon, "history", "-n", "cancel-array")]
    assert {t["state"] for t in ended} == {"CANCELLED"}
    assert [t["start_time"] is not None for t in ended] == [True, False, False, False]


def test_afterok_dependency_waits_then_runs(daemon: Daemon, tmp_path: Path) -> None:
    gate = Gate(tmp_path, "first")
    first = daemon.submit("--", *gate.command(code=0))
    then = daemon.submit(f"--dependency=afterok:{first}", "--", "echo", "after")
    wait_reason(daemon, then, "Dependency")
    gate.open()
    done = daemon.wait(then)
    assert done["state"] == "COMPLETED"
    assert done["start_time"] >= daemon.wait(first)["end_time"]
    assert log_text(daemon, then) == "after\n"


def test_afterok_on_a_failed_job_is_never_satisfied(daemon: Daemon) -> None:
    failed = daemon.submit("--", "sh", "-c", "exit 1")
    assert daemon.wait(failed)["state"] == "FAILED"
    waiting = daemon.submit("--dependency", f"afterok:{failed}", "--", "echo", "never")
    job = wait_reason(daemon, waiting, "DependencyNeverSatisfied")
    assert job["start_time"] is None
    line = daemon.cli("queue").out.splitlines()
    (row,) = [r for r in line if r.split()[0] == str(waiting)]
    assert row.endswith("(DependencyNeverSatisfied)")
    assert daemon.cli("cancel", str(waiting)).code == 0
    assert daemon.wait(waiting)["state"] == "CANCELLED"


def test_hold_then_release(daemon: Daemon) -> None:
    held = daemon.submit("--hold", "--gpus", "1", "--", "echo", "released")
    job = wait_reason(daemon, held, "JobHeldUser")
    assert job["held"] is True
    result = daemon.cli("release", str(held))
    assert result.code == 0, result.err
    done = daemon.wait(held)
    assert done["state"] == "COMPLETED" and done["held"] is False
    assert log_text(daemon, held) == "released\n"


def test_begin_time_delays_the_start(daemon: Daemon) -> None:
    job_id = daemon.submit("--begin", "now+2", "--", "echo", "begun")
    job = wait_reason(daemon, job_id, "BeginTime")
    assert job["begin_time"] is not None and job["begin_time"] > job["submit_time"]
    done = daemon.wait(job_id)
    assert done["state"] == "COMPLETED"
    assert done["start_time"] >= done["begin_time"]


def test_skypilot_task_yaml_runs_with_its_gpus_and_env(daemon: Daemon, tmp_path: Path) -> None:
    task = write(
        tmp_path,
        "task.yaml",
        """\
        name: skytask
        resources:
          accelerators: "sim-gpu:2"
        envs:
          GREETING: hello-sky
        setup: |
          echo "setup ran"
        run: |
          echo "run $GREETING gpus=$CUDA_VISIBLE_DEVICES n=$MLRP_NUM_GPUS"
        """,
    )
    job_id = daemon.submit(str(task))
    job = daemon.wait(job_id)
    assert job["state"] == "COMPLETED", log_text(daemon, job_id, "err")
    assert job["name"] == "skytask"
    assert len(job["gpus"]) == 2
    gpus = ",".join(str(g) for g in job["gpus"])
    assert log_text(daemon, job_id) == f"setup ran\nrun hello-sky gpus={gpus} n=2\n"
