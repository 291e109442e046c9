"""sbatch-style options -> JobSpec fields, and the errors a user sees for bad ones."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from mlrp.errors import InvalidSpec
from mlrp.parsing.sbatch import VALUELESS_OPTIONS, ignored_options, parse_options

NOW = datetime(2024, 5, 10, 15, 30).timestamp()


def parse(*tokens: str) -> dict[str, object]:
    return parse_options(list(tokens), now=NOW, source="command line")


@pytest.mark.parametrize(
    ("tokens", "fields"),
    [
        (["-J", "train"], {"name": "train"}),
        (["--job-name=train"], {"name": "train"}),
        (["--job-name", "train"], {"name": "train"}),
        (["-Jtrain"], {"name": "train"}),
        (["-c", "8"], {"cpus_per_task": 8}),
        (["-c8"], {"cpus_per_task": 8}),
        (["--cpus-per-task=8"], {"cpus_per_task": 8}),
        (["-t", "1-00:00:00"], {"time_limit": 86400}),
        (["--time=30"], {"time_limit": 1800}),
        (["--time=UNLIMITED"], {"time_limit": None}),
        (["--mem=16G"], {"mem_mb": 16384}),
        (["-p", "gpu"], {"partition": "gpu"}),
        (["-A", "vision"], {"account": "vision"}),
        (["-q", "high"], {"qos": "high"}),
        (["-o", "out-%j.log"], {"output": "out-%j.log"}),
        (["-e", "err-%j.log"], {"error": "err-%j.log"}),
        (["-D", "/data/run"], {"workdir": "/data/run"}),
        (["--chdir=/data/run"], {"workdir": "/data/run"}),
        (["-a", "0-15%4"], {"array": "0-15%4"}),
        (["--array= 1-3 "], {"array": "1-3"}),
        (["-d", "afterok:12"], {"dependency": "afterok:12"}),
        (["--dependency=singleton"], {"dependency": "singleton"}),
        (["--requeue"], {"requeue": True}),
        (["--no-requeue"], {"requeue": False}),
        (["--requeue", "--no-requeue"], {"requeue": False}),  # the last one wins
        (["-H"], {"hold": True}),
        (["--hold"], {"hold": True}),
        (["--slurm-env"], {"slurm_env": True}),
        (["--nice"], {"nice": 100}),  # Slurm's default adjustment
        (["--nice=50"], {"nice": 50}),
        (["--nice=-20"], {"nice": -20}),
        (["--begin=now+1hour"], {"begin": NOW + 3600}),
        (["-b", "16:00"], {"begin": datetime(2024, 5, 10, 16, 0).timestamp()}),
        (["--export=NONE"], {"export": "NONE"}),
        (["--wrap", "echo hi"], {"wrap": "echo hi"}),
        (["-N", "1"], {"nodes": 1}),
        (["--nodes=2-2"], {"nodes": 2}),
        (["-n", "1"], {"ntasks_per_node": 1}),
        (["--ntasks-per-node=4"], {"ntasks_per_node": 4}),
        # Per-job counts become per-node ones, whatever the order of the options.
        (["--gpus=8", "-N", "2"], {"gpus": 4, "gpu_type": None, "nodes": 2}),
        (["-n", "8", "--nodes=2"], {"nodes": 2, "ntasks_per_node": 4}),
        (
            ["--gpus-per-task=a100:1", "--ntasks-per-node=4"],
            {"gpus": 4, "gpu_type": "a100", "ntasks_per_node": 4},
        ),
        (["-N", "2", "--gpus-per-node=2"], {"gpus": 2, "gpu_type": None, "nodes": 2}),
        (["--mail-type=END", "--mail-user=a@b.c", "--comment", "x"], {}),
        (["-Hc4"], {"hold": True, "cpus_per_task": 4}),  # a getopt cluster
        (["-H", "-c", "2", "-t", "5"], {"hold": True, "cpus_per_task": 2, "time_limit": 300}),
        ([], {}),
    ],
)
def test_options(tokens: list[str], fields: dict[str, object]) -> None:
    assert parse(*tokens) == fields


@pytest.mark.parametrize(
    ("tokens", "gpus", "gpu_type"),
    [
        (["--gres=gpu:2"], 2, None),
        (["--gres=gpu:a100:2"], 2, "a100"),
        (["--gres=gpu:A100:2"], 2, "a100"),
        (["--gres=gpu"], 1, None),
        (["--gres=gpu:v100"], 1, "v100"),
        (["--gres=none"], 0, None),
        (["--gpus=4"], 4, None),
        (["--gpus", "h100:8"], 8, "h100"),
        (["-G", "2"], 2, None),
        (["-G1"], 1, None),
        (["-G", "rtx_a6000:1"], 1, "rtx_a6000"),
        (["--gpus-per-node=a100-80gb:4"], 4, "a100-80gb"),
        (["--gpus=0"], 0, None),
    ],
)
def test_gpu_requests(tokens: list[str], gpus: int, gpu_type: str | None) -> None:
    assert parse(*tokens) == {"gpus": gpus, "gpu_type": gpu_type}


@pytest.mark.parametrize(
    ("value", "name", "before"),
    [
        ("USR1", "USR1", 60),  # Slurm's default: 60 s before the time limit
        ("SIGUSR1", "USR1", 60),
        ("usr1@90", "USR1", 90),
        ("B:USR2@300", "USR2", 300),
        ("R:TERM@10", "TERM", 10),
        ("10@120", "USR1", 120),  # by number (Linux numbering)
        ("15", "TERM", 60),
        ("INT@0", "INT", 0),
    ],
)
def test_signal_forms(value: str, name: str, before: int) -> None:
    assert parse(f"--signal={value}") == {"signal": name, "signal_before": before}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["--foo"], "command line: unknown option --foo"),
        (["--foo=1"], "command line: unknown option --foo"),
        (["-Z"], "command line: unknown option -Z"),
        (["-HZ"], "command line: unknown option -Z"),
        (["train.sh"], "command line: unexpected argument 'train.sh'"),
        (["--time"], "command line: option --time needs a value"),
        (["-t"], "command line: option -t needs a value"),
        (["--hold=yes"], "command line: option --hold takes no value (got '--hold=yes')"),
        (["--nice", "5"], "command line: unexpected argument '5'"),
        (["-t", "1:xx:00"], "invalid -t '1:xx:00': expected minutes, MM:SS, HH:MM:SS"),
        (["--time=0"], "invalid --time '0': the time limit must be positive"),
        (["--mem=lots"], "invalid --mem 'lots'"),
        (["-c", "0"], "invalid -c '0': expected a whole number from 1 to"),
        (["-c", "four"], "invalid -c 'four'"),
        (["--gpus=-1"], "invalid --gpus '-1'"),
        (["--gpus=a100:two"], "invalid --gpus 'a100:two'"),
        (["--gpus=a100:1,v100:1"], "give one GPU model"),
        (["--gres=shard:2"], "only GPU resources are supported, not 'shard:2'"),
        (["--gres=gpu:1,gpu:a100:1"], "give one GPU request"),
        (["--gres=gpu:a100:2:x"], "expected gpu, gpu:N or gpu:MODEL:N"),
        (["--gres=gpu:a/b"], "'a/b' is not a GPU model name"),
        (["-N", "0"], "invalid -N '0': a job needs at least one node"),
        (["--nodes=2-4"], "invalid --nodes '2-4': give one node count"),
        (["-n", "3", "-N", "2"], "--ntasks 3 cannot be spread evenly over 2 nodes"),
        (["--gpus=3", "-N", "2"], "use --gpus-per-node to give the count on each node"),
        (["--nice=20000"], "invalid --nice '20000': expected a whole number from -10000 to 10000"),
        (["--signal=FOO"], "invalid --signal 'FOO': unknown signal 'FOO'"),
        (["--signal=999"], "999 is not a signal number"),
        (["--signal=USR1@x"], "invalid --signal 'USR1@x'"),
        (["--signal=USR1@70000"], "invalid --signal 'USR1@70000'"),
        (["--signal=X:USR1"], "expected [{R|B}:]SIGNAL[@SECONDS]"),
        (["-a", "0-x"], "invalid -a '0-x'"),
        (["--array=0-15%0"], "the throttle after '%' must be at least 1"),
        (["-d", "aftercorr:5"], "unknown dependency type 'aftercorr'"),
        (["--begin=someday"], "invalid --begin 'someday'"),
        (["--export=ALL,NONE"], "ALL and NONE contradict each other"),
        (["--export=A,,B"], "'' is not ALL, NONE, a variable name or NAME=value"),
        (["--export=1X=2"], "'1X=2' is not ALL, NONE"),
        (["--partition="], "invalid --partition '': the value is empty"),
        (["-J", " "], "invalid -J ' ': the value is empty"),
        (["-J", "x" * 201], "longer than 200 characters"),
        (["--wrap="], "invalid --wrap '': the value is empty"),
    ],
)
def test_bad_options_say_what_and_where(tokens: list[str], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        parse(*tokens)


def test_errors_name_the_given_source() -> None:
    with pytest.raises(InvalidSpec, match=r"^jobs\.txt: unknown option --foo$"):
        parse_options(["--foo"], now=NOW, source="jobs.txt")


def test_ignored_options_are_reported_for_a_warning() -> None:
    tokens = ["-J", "x", "--mail-type=END", "--comment", "note", "--mail-user", "a@b.c"]
    assert ignored_options(tokens) == ["--mail-type", "--comment", "--mail-user"]
    assert ignored_options(["--hold", "-t", "5"]) == []


@pytest.mark.parametrize("name", ["--hold", "-H", "--requeue", "--no-requeue", "--slurm-env"])
def test_flags_never_swallow_the_next_token(name: str) -> None:
    assert name in VALUELESS_OPTIONS
    with pytest.raises(InvalidSpec, match=r"unexpected argument 'train\.sh'"):
        parse(name, "train.sh")


def test_nice_takes_its_value_only_when_attached() -> None:
    assert "--nice" in VALUELESS_OPTIONS
    assert {"--time", "-t", "--gpus", "-G", "--wrap"}.isdisjoint(VALUELESS_OPTIONS)
