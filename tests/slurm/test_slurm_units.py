"""The Slurm adapter's pure parts, without a cluster: parsers on real 22.05 output
(captured from the test cluster, tests/data/slurm/), the state and reason tables, error
translation and script planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrp.errors import (
    BackendUnavailable,
    InvalidSpec,
    InvalidTransition,
    MlrpError,
    OverLimit,
    PermissionDenied,
    Unsatisfiable,
)
from mlrp.models.jobs import JobSpec
from mlrp.models.reasons import EXPLANATIONS, Reason
from mlrp.models.states import JobState
from mlrp.slurm.failures import translate
from mlrp.slurm.jobs import jobs_of, log_paths
from mlrp.slurm.parse import parse_sacct, parse_sinfo, parse_squeue, parse_sshare, parse_submitted
from mlrp.slurm.script import plan_script, quote_directive
from mlrp.slurm.states import REASONS, job_state, pending_reason

DATA = Path(__file__).parents[1] / "data" / "slurm"
NOW = 1_800_000_000.0


# ----------------------------------------------------------------------------- parse


def test_squeue_json_gives_states_gpus_arrays_and_wait_statuses() -> None:
    jobs = {j.job_id: j for j in parse_squeue((DATA / "squeue_2205.json").read_text())}
    running = jobs[49]
    assert (running.state, running.gpus_per_node, running.gpu_indices) == ("RUNNING", 2, (0, 1))
    pending_rest = jobs[50]
    assert (pending_rest.array_job_id, pending_rest.pending_tasks) == (50, "1-3%1")
    assert pending_rest.display_id == "50_[1-3%1]"
    assert jobs[56].display_id == "50_0"
    assert (jobs[52].exit_code, jobs[52].exit_signal) == (3, 0)  # status 768
    assert (jobs[53].exit_code, jobs[53].exit_signal) == (0, 9)  # killed
    assert (jobs[51].reason, jobs[51].nice, jobs[51].priority) == ("JobHeldUser", 10, 0.0)
    multi = jobs[55]
    assert (multi.node_count, multi.tasks, multi.gpus_per_node, multi.nodes) == (2, 4, 1, "n[1-2]")


def test_the_pending_rest_of_an_array_becomes_one_job_per_task() -> None:
    rest = {j.job_id: j for j in parse_squeue((DATA / "squeue_2205.json").read_text())}[50]
    tasks = jobs_of(rest)
    assert [t.display_id for t in tasks] == ["50_1", "50_2", "50_3"]
    assert {t.id for t in tasks} == {50}
    assert {(t.state, t.reason) for t in tasks} == {(JobState.PENDING, Reason.ARRAY_TASK_LIMIT)}


def test_sacct_text_gives_exit_codes_that_its_json_loses() -> None:
    jobs = {j.display_id: j for j in parse_sacct((DATA / "sacct_2205.txt").read_text())}
    assert (jobs["52"].state, jobs["52"].exit_code) == ("FAILED", 3)
    assert (jobs["53"].exit_code, jobs["53"].exit_signal) == (0, 9)
    assert jobs["41"].name == "a b`c'd#e$f\\g é"  # slurmdbd stores " as `
    assert (jobs["44_4"].job_id, jobs["44_4"].array_task_id) == (44, 4)
    assert jobs["50_[1-3%1]"].pending_tasks == "1-3%1"
    assert jobs["43"].time_limit == 365 * 86400 and jobs["49"].time_limit is None
    assert jobs["51"].nodes is None and jobs["51"].eligible_time is None
    assert job_state(jobs["49"].state) is JobState.CANCELLED  # "CANCELLED by 0"


def test_sacct_keeps_a_name_with_bars_and_line_breaks_whole() -> None:
    line = (DATA / "sacct_2205.txt").read_text().splitlines()[0]
    cells = line.split("|")
    text = "|".join([*cells[:-1], "a|b"]) + "\nsecond line\n"
    [job] = parse_sacct(text)
    assert job.name == "a|b\nsecond line"


def test_sinfo_and_sshare() -> None:
    node = parse_sinfo((DATA / "sinfo_2205.json").read_text())[0]
    assert (node.name, node.gpus, node.gpus_allocated, node.cpus) == ("n1", 8, 3, 32)
    shares = parse_sshare((DATA / "sshare_2205.txt").read_text())
    rows = [(s.account, s.user, s.depth) for s in shares]
    assert rows == [
        ("root", "root", 0), ("teama", None, 0), ("teama", "alice", 1),
        ("teamb", None, 0), ("teamb", "bob", 1),
    ]  # fmt: skip
    assert shares[1].level_fs is None and shares[1].fairshare is None  # inf, blank


def test_unreadable_output_is_an_error_naming_the_command() -> None:
    with pytest.raises(MlrpError, match="squeue --json"):
        parse_squeue("slurm_load_jobs error")
    with pytest.raises(MlrpError, match="not a job id"):
        parse_submitted("sbatch: warning")
    assert parse_submitted("123;cluster\n") == 123


# ----------------------------------------------------------------------- the tables


@pytest.mark.parametrize(
    ("slurm", "ours"),
    [
        ("PENDING", JobState.PENDING), ("REQUEUED", JobState.PENDING),
        ("COMPLETING", JobState.RUNNING), ("SUSPENDED", JobState.RUNNING),
        ("CANCELLED by 1001", JobState.CANCELLED), ("BOOT_FAIL", JobState.NODE_FAIL),
        ("DEADLINE", JobState.TIMEOUT), ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
    ],
)  # fmt: skip
def test_slurm_states_map_to_ours(slurm: str, ours: JobState) -> None:
    assert job_state(slurm) is ours


def test_every_reason_has_words_and_unknown_ones_are_other() -> None:
    assert set(EXPLANATIONS) == set(Reason)
    assert pending_reason("ReqNodeNotAvail, UnavailableNodes:n1") is Reason.REQ_NODE_NOT_AVAIL
    assert pending_reason("Nodes_required_for_job_are_DOWN") is Reason.OTHER
    assert all(pending_reason(word) is reason for word, reason in REASONS.items())


# -------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    ("stderr", "cls", "words"),
    [
        (
            "sbatch: error: Batch job submission failed: Invalid account or "
            "account/partition combination specified",
            Unsatisfiable,
            ["Invalid account", "alice", "'teamb'", "--account"],
        ),
        (
            "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job "
            "submission failed: Invalid partition name specified",
            Unsatisfiable,
            ["partition 'gpu2'", "--partition"],
        ),
        ("sbatch: error: Batch job submission failed: Invalid qos specification",
         Unsatisfiable, ["--qos"]),
        ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
         "(job submit limit, user's size and/or time limits)", OverLimit, ["limit"]),
        ("scancel: error: Kill job error on job id 5: Access/permission denied",
         PermissionDenied, ["alice"]),
        ("scontrol: error: Job is no longer pending execution for job 7",
         InvalidTransition, ["pending"]),
        ("squeue: error: Unable to contact slurm controller (connect failure)",
         BackendUnavailable, ["slurmctld"]),
        ("sbatch: error: something new", MlrpError, ["something new"]),
    ],
)  # fmt: skip
def test_slurm_errors_become_mlrp_errors_that_say_what_to_change(
    stderr: str, cls: type[MlrpError], words: list[str]
) -> None:
    error = translate("sbatch", stderr, {"user": "alice", "account": "teamb", "partition": "gpu2"})
    assert type(error) is cls
    for word in words:
        assert word in error.message


# --------------------------------------------------------------------------- scripts


def spec(**fields: object) -> JobSpec:
    return JobSpec.model_validate({"argv": ["python", "train.py"], **fields})


def test_each_field_becomes_its_directive() -> None:
    script = plan_script(
        spec(
            name="train", gpus=2, gpu_type="a100", cpus_per_task=4, mem_mb=2048,
            time_limit=3661, partition="gpu", account="teama", qos="high", output="o-%j",
            error="e-%j", workdir="/w", array="0-3%2", dependency="afterok:5",
            requeue=False, signal="USR1", signal_before=90, begin=NOW + 60, nice=5, hold=True,
        ),
        now=NOW,
    )  # fmt: skip
    assert script.render().splitlines() == [
        "#!/bin/bash",
        "#SBATCH --job-name=train", "#SBATCH --partition=gpu", "#SBATCH --account=teama",
        "#SBATCH --qos=high", "#SBATCH --gres=gpu:a100:2", "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=2048M", "#SBATCH --time=0-01:01:01", "#SBATCH --output=o-%j",
        "#SBATCH --error=e-%j", "#SBATCH --chdir=/w", "#SBATCH --array=0-3%2",
        "#SBATCH --dependency=afterok:5", "#SBATCH --no-requeue",
        "#SBATCH --signal=B:USR1@90", "#SBATCH --begin=now+60", "#SBATCH --nice=5",
        "#SBATCH --hold",
        "exec python train.py",
    ]  # fmt: skip


def test_defaults_write_no_directive() -> None:
    lines = plan_script(spec(), now=NOW, workdir="/home/u").render().splitlines()
    assert lines == ["#!/bin/bash", "#SBATCH --job-name=python", "#SBATCH --chdir=/home/u",
                     "exec python train.py"]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain-name_1.0", "plain-name_1.0"),
        ('a "b" c', '"a \\"b\\" c"'),
        ("back\\slash #not-a-comment 'q' é", "\"back\\\\slash #not-a-comment 'q' é\""),
    ],
)
def test_directive_values_are_quoted_as_sbatch_reads_them(value: str, written: str) -> None:
    assert quote_directive(value) == written


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\0", "bell\a"])
def test_a_value_a_directive_cannot_hold_is_refused(value: str) -> None:
    with pytest.raises(InvalidSpec, match=r"--job-name: .*line break or control character"):
        plan_script(spec(name=value), now=NOW)


def test_a_users_script_runs_as_written_but_for_its_directives() -> None:
    text = "#!/usr/bin/env python3\n#SBATCH --time=5\n# a comment\nprint('#SBATCH x')\n"
    script = plan_script(
        JobSpec(script=text, script_args=["a b"], time_limit=60), now=NOW, workdir="/w"
    )
    assert script.render() == (
        "#!/usr/bin/env python3\n#SBATCH --job-name=script\n#SBATCH --time=0-00:01:00\n"
        "#SBATCH --chdir=/w\n##SBATCH --time=5\n# a comment\nprint('#SBATCH x')\n"
    )
    assert script.args == ("a b",)


def test_multi_node_commands_run_through_srun_with_a_launcher_environment() -> None:
    script = plan_script(
        spec(nodes=2, ntasks_per_node=4, gpus=4, signal="USR1", signal_before=30),
        now=NOW,
        slurm_bin="/opt/slurm/bin",
    )
    text = script.render()
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=4\n#SBATCH --gres=gpu:4\n" in text
    assert "#SBATCH --signal=USR1@30" in text  # the tasks, not the batch shell
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        assert name in text
    assert text.rstrip().endswith("mlrp-task python train.py")
    assert "exec /opt/slurm/bin/srun --kill-on-bad-exit=1 " in text


def test_environment_that_cannot_be_passed_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="X contains a NUL"):
        plan_script(spec(env={"X": "a\0b"}), now=NOW)
    with pytest.raises(InvalidSpec, match="variable name"):
        plan_script(spec(env={"A=B": "x"}), now=NOW)


def test_log_paths_follow_slurms_defaults_and_patterns() -> None:
    rest = {j.job_id: j for j in parse_squeue((DATA / "squeue_2205.json").read_text())}[50]
    task = jobs_of(rest)[0]
    assert log_paths(task) == ("/tmp/sx/slurm-50_1.out", "/tmp/sx/slurm-50_1.out")
    own = spec(output="logs/%x-%j.out", error="/abs/%u.err", workdir="/w", name="n")
    running = parse_squeue((DATA / "squeue_2205.json").read_text())[0]
    [job] = jobs_of(running, own)
    assert log_paths(job) == (f"/w/logs/{job.name}-{job.id}.out", f"/abs/{job.user}.err")
