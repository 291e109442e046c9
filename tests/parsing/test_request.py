"""`mlrp submit` / `mlrp run` as typed -> a spec (mlrp.parsing.request, what the daemon
runs for POST /api/v1/jobs/sbatch and `--dry-run` runs locally), and the CLI's split of
its tokens (mlrp.cli.submit, with mlrp.parsing.options' table)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlrp.cli.submit import build_request, split_tokens
from mlrp.errors import InvalidSpec
from mlrp.models.jobs import JobSpec
from mlrp.parsing import sbatch
from mlrp.parsing.options import VALUELESS_OPTIONS
from mlrp.parsing.request import spec_from_request

NOW = 1_700_000_000.0
ENVIRON = {"HOME": "/home/alice", "PATH": "/usr/bin"}
SCRIPT = textwrap.dedent(
    """\
    #!/bin/bash
    #SBATCH --job-name=train
    #SBATCH --time=2:00:00
    #SBATCH --gres=gpu:a100:2
    python train.py "$@"
    """
)
TASK = "resources:\n  accelerators: a100:2\nrun: python train.py\n"


def request(*rest: str, options: tuple[str, ...] = (), **more: object) -> dict[str, object]:
    spec = spec_from_request(
        str(more.pop("command", "submit")),
        list(options),
        list(rest),
        environ=ENVIRON,
        workdir="/home/alice/work",
        now=NOW,
        **more,  # type: ignore[arg-type]
    )
    JobSpec.model_validate(spec)  # what the daemon then checks
    return spec


def test_the_clis_table_is_sbatchs() -> None:
    derived = {
        name
        for option in sbatch._OPTIONS
        if option.arity != "value"
        for name in (option.long, option.short)
        if name is not None
    }
    assert derived == VALUELESS_OPTIONS
    assert sbatch.VALUELESS_OPTIONS is VALUELESS_OPTIONS


def test_the_options_module_imports_nothing() -> None:
    code = "import sys\nimport mlrp.parsing.options\nprint(' '.join(sorted(sys.modules)))"
    before = subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    after = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(after) - set(before) == {"mlrp", "mlrp.parsing", "mlrp.parsing.options"}


def test_a_script_its_directives_and_overrides() -> None:
    spec = request("a", "b", options=("-t", "10"), file_name="jobs/train.sh", file_text=SCRIPT)
    assert spec["name"] == "train"
    assert spec["time_limit"] == 600  # the command line overrides the directive
    assert (spec["gpus"], spec["gpu_type"]) == (2, "a100")
    assert spec["script"] == SCRIPT and spec["script_args"] == ["a", "b"]
    assert spec["env"] == ENVIRON and spec["workdir"] == "/home/alice/work"


def test_a_script_without_a_name_is_named_after_its_file() -> None:
    spec = request(file_name="jobs/run.sh", file_text="#!/bin/sh\necho\n")
    assert spec["name"] == "run.sh"


def test_a_task_yaml_and_overrides() -> None:
    spec = request("ignored", options=("--gpus", "1"), file_name="t.yml", file_text=TASK)
    assert (spec["gpus"], spec["gpu_type"]) == (1, None)
    assert spec["script"].startswith("#!/bin/bash\nset -e\n")  # type: ignore[union-attr]
    assert "name" not in spec and spec["env"] == ENVIRON


def test_a_command_wrap_workdir_and_as_user() -> None:
    spec = request("python", "x.py", options=("-D", "/scratch"), as_user="bob")
    assert spec["argv"] == ["python", "x.py"] and spec["workdir"] == "/scratch"
    assert spec["as_user"] == "bob"
    wrapped = request(options=("--wrap", "echo hi"), command="run")
    assert wrapped["script"] == "#!/bin/sh\necho hi\n" and wrapped["name"] == "wrap"


@pytest.mark.parametrize(
    ("rest", "more", "message"),
    [
        ((), {}, r"^nothing to run: give a script, a task YAML or -- COMMAND "
                 r"\(see `mlrp submit --help`\)$"),
        ((), {"command": "run"}, r"\(see `mlrp run --help`\)$"),
        ((), {"file_name": "a.sh"}, "give both the name and the text"),
        ((), {"file_text": "#!/bin/sh\n"}, "give both the name and the text"),
        ((), {"file_name": "a.sh", "file_text": "#!/bin/sh\n", "command": "run"},
         "cannot be given to `mlrp run`"),
        ((), {"file_name": "a.sh", "file_text": "#!/bin/sh\n", "after_double_dash": True},
         "cannot be given after --"),
        ((), {"file_name": "a.sh", "file_text": "#!/bin/sh\n#SBATCH --bogus\n"},
         r"^line 2 of a\.sh: unknown #SBATCH option --bogus$"),
    ],
)  # fmt: skip
def test_refusals(rest: tuple[str, ...], more: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        request(*rest, **more)


def test_the_cli_splits_and_reads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "train.sh"
    script.write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    body, flags = build_request("submit", ["--parsable", "-H", "--nice", "-G2", "train.sh", "x"])
    assert flags == {"--parsable"}
    assert body["options"] == ["-H", "--nice", "-G2"]
    assert (body["file_name"], body["file_text"], body["rest"]) == ("train.sh", SCRIPT, ["x"])
    assert body["environ"] == dict(os.environ) and body["workdir"] == str(tmp_path)
    body, _ = build_request("submit", ["--", "train.sh"])  # after --: a command
    assert body["rest"] == ["train.sh"] and "file_text" not in body
    assert body["after_double_dash"] is True
    body, _ = build_request("run", ["train.sh"])  # `run` runs commands only
    assert "file_text" not in body
    body, _ = build_request("submit", ["--as-user=bob", "--", "true"])
    assert body["as_user"] == "bob"


def test_split_tokens() -> None:
    assert split_tokens(["--hold", "-t", "5", "--nice", "cmd", "-x"]) == (
        ["--hold", "-t", "5", "--nice"],
        ["cmd", "-x"],
        {},
    )
    with pytest.raises(InvalidSpec, match="option --time needs a value"):
        split_tokens(["--time"])
