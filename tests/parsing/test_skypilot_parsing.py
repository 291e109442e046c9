"""SkyPilot-style task YAML -> JobSpec fields."""

from __future__ import annotations

import re
import textwrap

import pytest

from mlrp.errors import InvalidSpec
from mlrp.models.jobs import JobSpec
from mlrp.parsing.skypilot import spec_from_task_yaml

ENVIRON = {"HOME": "/home/alice", "WANDB_KEY": "secret"}


def task(text: str) -> dict[str, object]:
    return spec_from_task_yaml(textwrap.dedent(text), environ=ENVIRON, source="task.yaml")


def test_a_full_task() -> None:
    fields = task(
        """\
        name: finetune
        resources:
          accelerators: A100:2
          cpus: 8+
          memory: 64+
        num_nodes: 1
        workdir: ~/project
        envs:
          LR: 0.001
          EPOCHS: 3
          DEBUG: true
          MODEL: llama
          WANDB_KEY:
        setup: |
          pip install -r requirements.txt
        run: |
          python train.py --lr $LR
        """
    )
    assert fields == {
        "name": "finetune",
        "gpus": 2,
        "gpu_type": "a100",
        "cpus_per_task": 8,
        "mem_mb": 64 * 1024,
        "workdir": "~/project",
        "env": {
            **ENVIRON,
            "LR": "0.001",
            "EPOCHS": "3",
            "DEBUG": "true",
            "MODEL": "llama",
            "WANDB_KEY": "secret",  # null: taken from the submitter's environment
        },
        "script": (
            "#!/bin/bash\nset -e\npip install -r requirements.txt\npython train.py --lr $LR\n"
        ),
    }
    assert JobSpec.model_validate(fields).gpu_type == "a100"


@pytest.mark.parametrize(
    ("accelerators", "gpus", "gpu_type"),
    [
        ("A100:2", 2, "a100"),
        ("A100", 1, "a100"),  # a bare model means one
        ("H100-80GB:8", 8, "h100-80gb"),
        ("{A100: 4}", 4, "a100"),
        ("{V100: null}", 1, "v100"),
        ("[L4:1]", 1, "l4"),
    ],
)
def test_accelerator_forms(accelerators: str, gpus: int, gpu_type: str) -> None:
    fields = task(f"resources:\n  accelerators: {accelerators}\nrun: nvidia-smi\n")
    assert (fields["gpus"], fields["gpu_type"]) == (gpus, gpu_type)


@pytest.mark.parametrize(
    ("resources", "key", "value"),
    [
        ("cpus: 4", "cpus_per_task", 4),
        ("cpus: '4'", "cpus_per_task", 4),
        ("cpus: 4+", "cpus_per_task", 4),
        ("memory: 32", "mem_mb", 32768),
        ("memory: 32+", "mem_mb", 32768),
        ("memory: 0.5", "mem_mb", 512),
    ],
)
def test_cpu_and_memory_forms(resources: str, key: str, value: int) -> None:
    assert task(f"resources:\n  {resources}\nrun: echo\n")[key] == value


def test_run_alone_is_enough_and_everything_else_is_left_out() -> None:
    fields = task("run: echo hello\n")
    assert fields == {"env": ENVIRON, "script": "#!/bin/bash\nset -e\necho hello\n"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("run: [unclosed\n", "task.yaml: invalid YAML at line 2"),
        ("name: a\n  run: b: c\n", "task.yaml: invalid YAML at line 2: mapping values"),
        ("", "task.yaml: expected a task"),
        ("- run: x\n", "task.yaml: expected a task"),
        ("run: x\nfile_mounts: {}\ncloud: aws\n", "unsupported key(s) cloud, file_mounts"),
        ("run: x\nresources:\n  use_spot: true\n", "unsupported key(s) resources.use_spot"),
        ("run: x\nnum_nodes: 2\n", "multi-node tasks need the Slurm backend"),
        ("run: x\nnum_nodes: zero\n", "num_nodes must be a whole number"),
        ("name: x\n", "task.yaml: the task has no run commands"),
        ("run: ''\n", "run must be a non-empty string"),
        ("run: [a, b]\n", "run must be a non-empty string"),
        ("run: x\nresources:\n  accelerators: {A100: 1, V100: 1}\n", "give exactly one GPU model"),
        ("run: x\nresources:\n  accelerators: A100:0.5\n", "fractional GPUs are not supported"),
        ("run: x\nresources:\n  accelerators: A100:0\n", "at least 1"),
        ("run: x\nresources:\n  accelerators: ':2'\n", "'' is not a GPU model"),
        ("run: x\nresources:\n  cpus: 0.5\n", "resources.cpus 0.5"),
        ("run: x\nresources:\n  memory: 4x\n", "resources.memory '4x'"),
        ("run: x\nresources:\n  memory: 0\n", "resources.memory 0"),
        ("run: x\nresources: gpu\n", "resources must be a mapping"),
        ("run: x\nenvs:\n  MISSING:\n", "envs.MISSING has no value and MISSING is not set"),
        ("run: x\nenvs:\n  A: [1]\n", "envs.A must be text or a number"),
        ("run: x\nenvs: [A]\n", "envs must be a mapping"),
    ],
)
def test_bad_tasks_say_what(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        task(text)
