"""Whole submissions: a script's directives, command-line overrides and --export."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from mlrp.errors import InvalidSpec
from mlrp.models.jobs import JobSpec
from mlrp.parsing.sbatch import resolve_export, spec_from_command, spec_from_script

NOW = 1_700_000_000.0
ENVIRON = {"HOME": "/home/alice", "PATH": "/usr/bin", "CUDA_HOME": "/opt/cuda"}

TRAIN = textwrap.dedent(
    """\
    #!/bin/bash
    #SBATCH --job-name=train
    #SBATCH --partition=gpu
    #SBATCH --time=2:00:00
    #SBATCH --gres=gpu:a100:2
    #SBATCH --export=NONE
    #SBATCH --output=logs/%x-%j.out

    python train.py "$@"
    """
)


def from_script(text: str = TRAIN, *cli: str, args: tuple[str, ...] = ()) -> dict[str, object]:
    return spec_from_script(
        text, cli_tokens=list(cli), script_args=list(args), environ=ENVIRON, now=NOW,
        source="train.sh",
    )  # fmt: skip


def test_a_script_becomes_a_valid_job_spec() -> None:
    fields = from_script(args=("--lr", "0.1"))
    assert fields == {
        "name": "train",
        "partition": "gpu",
        "time_limit": 7200,
        "gpus": 2,
        "gpu_type": "a100",
        "output": "logs/%x-%j.out",
        "env": {},
        "script": TRAIN,
        "script_args": ["--lr", "0.1"],
    }
    assert JobSpec.model_validate(fields).gpus == 2


def test_command_line_options_override_directives_key_by_key() -> None:
    fields = from_script(TRAIN, "-t", "30", "--partition=debug", "--hold")
    assert fields["time_limit"] == 1800
    assert fields["partition"] == "debug"
    assert fields["hold"] is True
    assert fields["name"] == "train"  # untouched directives stay
    assert fields["gpu_type"] == "a100"


def test_a_command_line_gpu_request_replaces_the_scripts_whole() -> None:
    fields = from_script(TRAIN, "--gpus=4")
    assert (fields["gpus"], fields["gpu_type"]) == (4, None)


def test_command_line_export_overrides_the_scripts() -> None:
    assert from_script(TRAIN)["env"] == {}
    assert from_script(TRAIN, "--export=ALL")["env"] == ENVIRON
    assert from_script(TRAIN, "--export=HOME,X=1")["env"] == {"HOME": "/home/alice", "X": "1"}


def test_without_export_the_whole_environment_goes_along() -> None:
    fields = from_script("#!/bin/sh\n#SBATCH -c 2\necho hi\n")
    assert fields["env"] == ENVIRON
    assert fields["cpus_per_task"] == 2


def test_directives_after_the_first_command_are_not_options() -> None:
    text = "#!/bin/sh\n#SBATCH -p gpu\necho start\n#SBATCH -p other\n#SBATCH --bogus\n"
    assert from_script(text)["partition"] == "gpu"


@pytest.mark.parametrize(
    ("text", "cli", "message"),
    [
        (
            "#!/bin/sh\n#SBATCH -c 1\n#SBATCH --foo\n",
            (),
            "line 3 of train.sh: unknown #SBATCH option --foo",
        ),
        (
            "#!/bin/sh\n#SBATCH --time=1:xx:00\n",
            (),
            "line 2 of train.sh: invalid --time '1:xx:00': expected minutes, MM:SS",
        ),
        ("#!/bin/sh\n#SBATCH -N x\n", (), "line 2 of train.sh: invalid -N 'x': expected a node"),
        ("#!/bin/sh\n#SBATCH hetjob\n", (), "line 2 of train.sh: heterogeneous jobs (hetjob)"),
        ("#!/bin/sh\n#SBATCH -p\n", (), "line 2 of train.sh: option -p needs a value"),
        ("#!/bin/sh\n", ("--foo",), "command line: unknown option --foo"),
        ("#!/bin/sh\n", ("--mem=0",), "command line: invalid --mem '0'"),
        ("#!/bin/sh\n", ("--wrap=ls",), "--wrap cannot be combined with a batch script"),
        ("#!/bin/sh\r\necho hi\r\n", (), "train.sh has DOS line breaks"),
        ("echo hi\n", (), "train.sh does not look like a batch script"),
        ("", (), "train.sh does not look like a batch script"),
        ("#!/bin/sh\n\0", (), "train.sh contains a NUL character"),
    ],
)
def test_script_errors_say_where(text: str, cli: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        from_script(text, *cli)


def from_command(argv: list[str], *cli: str) -> dict[str, object]:
    return spec_from_command(argv, cli_tokens=list(cli), environ=ENVIRON, now=NOW)


def test_a_command_becomes_a_valid_job_spec() -> None:
    fields = from_command(["python", "train.py"], "-G", "1", "--export=PATH")
    assert fields == {
        "argv": ["python", "train.py"],
        "gpus": 1,
        "gpu_type": None,
        "env": {"PATH": "/usr/bin"},
    }
    assert JobSpec.model_validate(fields).display_name() == "python"


def test_wrap_makes_a_shell_script() -> None:
    fields = from_command([], "--wrap", "echo hi && sleep 1")
    assert fields["script"] == "#!/bin/sh\necho hi && sleep 1\n"
    assert "argv" not in fields
    assert JobSpec.model_validate(fields).script == fields["script"]


@pytest.mark.parametrize(
    ("argv", "cli", "message"),
    [
        (["ls"], ("--wrap=pwd",), "give either --wrap or a command after --, not both"),
        ([], (), "nothing to run"),
        ([""], (), "nothing to run"),
        (["ls"], ("-t", "soon"), "command line: invalid -t 'soon'"),
    ],
)
def test_command_errors(argv: list[str], cli: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        from_command(argv, *cli)


@pytest.mark.parametrize(
    ("export", "expected"),
    [
        (None, ENVIRON),
        ("ALL", ENVIRON),
        ("all", ENVIRON),
        ("NONE", {}),
        ("ALL,A=1,HOME", {**ENVIRON, "A": "1"}),
        ("A=1,HOME", {"A": "1", "HOME": "/home/alice"}),
        ("A=1,UNSET_VAR", {"A": "1"}),  # absent names are skipped silently
        ("HOME=/tmp,ALL", {**ENVIRON, "HOME": "/tmp"}),
        ("OPTS=--x=1 --y=2", {"OPTS": "--x=1 --y=2"}),  # '=' after the first is the value's
        ("EMPTY=", {"EMPTY": ""}),
    ],
)
def test_export_resolution(export: str | None, expected: dict[str, str]) -> None:
    assert resolve_export(export, ENVIRON) == expected


def test_the_cli_can_import_the_parsers_without_yaml_or_pydantic() -> None:
    code = (
        "import sys\n"
        "import mlrp.parsing.sbatch, mlrp.parsing.skypilot, mlrp.parsing.patterns\n"
        "print(sorted(m for m in ('yaml', 'pydantic') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
