"""job_environment: what a job's environment says about it."""

from __future__ import annotations

from typing import Any

from mlrp.executors.environment import job_environment


def env_for(base: dict[str, str] | None = None, **overrides: Any) -> dict[str, str]:
    kwargs: dict[str, Any] = {
        "job_id": 42,
        "job_name": "train",
        "user": "alice",
        "account": "vision",
        "partition": "gpu",
        "gpus": [2, 5],
        "cpus": 8,
        "mem_mb": 16000,
        "time_limit": 3600,
        "array_job_id": None,
        "array_task_id": None,
        "restart_count": 1,
        "submit_dir": "/home/alice/proj",
        "hostname": "node1",
        "slurm_env": False,
    }
    kwargs.update(overrides)
    return job_environment(base if base is not None else {"PATH": "/bin"}, **kwargs)


def test_mlrp_variables_and_gpus() -> None:
    env = env_for()
    assert env["PATH"] == "/bin"
    assert env["CUDA_VISIBLE_DEVICES"] == env["NVIDIA_VISIBLE_DEVICES"] == "2,5"
    assert env["MLRP_GPUS"] == "2,5"
    assert env["MLRP_NUM_GPUS"] == "2"
    assert env["MLRP_JOB_ID"] == "42"
    assert env["MLRP_JOB_NAME"] == "train"
    assert env["MLRP_ACCOUNT"] == "vision"
    assert env["MLRP_PARTITION"] == "gpu"
    assert env["MLRP_CPUS"] == "8"
    assert env["MLRP_RESTART_COUNT"] == "1"
    assert env["MLRP_SUBMIT_DIR"] == "/home/alice/proj"
    assert env["OMP_NUM_THREADS"] == "8"
    assert "MLRP_ARRAY_JOB_ID" not in env and "MLRP_ARRAY_TASK_ID" not in env
    assert not any(k.startswith("SLURM") for k in env)


def test_no_gpus_means_empty_not_unset() -> None:
    env = env_for({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, gpus=[])
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["NVIDIA_VISIBLE_DEVICES"] == ""
    assert env["MLRP_NUM_GPUS"] == "0"


def test_user_omp_setting_is_kept() -> None:
    assert env_for({"OMP_NUM_THREADS": "1"})["OMP_NUM_THREADS"] == "1"


def test_array_variables() -> None:
    env = env_for(array_job_id=40, array_task_id=3, slurm_env=True)
    assert (env["MLRP_ARRAY_JOB_ID"], env["MLRP_ARRAY_TASK_ID"]) == ("40", "3")
    assert (env["SLURM_ARRAY_JOB_ID"], env["SLURM_ARRAY_TASK_ID"]) == ("40", "3")


def test_inherited_slurm_variables_are_removed_without_slurm_env() -> None:
    base = {"PATH": "/bin", "SLURM_JOB_ID": "9", "SLURM_PROCID": "3", "SLURMD_NODENAME": "x"}
    env = env_for(base)
    assert not any(k.startswith("SLURM") for k in env)
    assert base["SLURM_JOB_ID"] == "9"  # the caller's mapping is untouched


def test_slurm_env() -> None:
    base = {"PATH": "/bin", "SLURM_STEP_ID": "7", "SLURM_JOB_ID": "9"}
    env = env_for(base, slurm_env=True)
    expected = {
        "SLURM_JOB_ID": "42",
        "SLURM_JOBID": "42",
        "SLURM_JOB_NAME": "train",
        "SLURM_JOB_USER": "alice",
        "SLURM_JOB_ACCOUNT": "vision",
        "SLURM_JOB_PARTITION": "gpu",
        "SLURM_CPUS_PER_TASK": "8",
        "SLURM_JOB_GPUS": "2,5",
        "SLURM_GPUS_ON_NODE": "2",
        "SLURM_NTASKS": "1",
        "SLURM_NNODES": "1",
        "SLURM_JOB_NODELIST": "node1",
        "SLURM_SUBMIT_DIR": "/home/alice/proj",
        "SLURM_RESTART_COUNT": "1",
        "SLURM_PROCID": "0",
    }
    assert {k: env[k] for k in expected} == expected
    assert "SLURM_STEP_ID" not in env  # stale: it described another job
    assert "SLURM_ARRAY_JOB_ID" not in env


def test_slurm_env_without_gpus_has_no_gpu_variables() -> None:
    env = env_for(gpus=[], slurm_env=True)
    assert "SLURM_JOB_GPUS" not in env and "SLURM_GPUS_ON_NODE" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == ""
