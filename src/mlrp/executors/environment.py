"""The environment variables a job sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_SLURM_PREFIXES = ("SLURM_", "SLURMD_")


def job_environment(
    base: Mapping[str, str],
    *,
    job_id: int,
    job_name: str,
    user: str,
    account: str,
    partition: str,
    gpus: Sequence[int],
    cpus: int,
    mem_mb: int | None,
    time_limit: int,
    array_job_id: int | None,
    array_task_id: int | None,
    restart_count: int,
    submit_dir: str,
    hostname: str,
    slurm_env: bool,
) -> dict[str, str]:
    """`base` (the user's submit environment) plus what mlrp tells the job.

    GPUs: CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES list the job's GPU indices,
    and are set to "" (not unset) for a job without GPUs, so it sees none.

    SLURM_* / SLURMD_* variables inherited from `base` are always dropped (they would
    describe some other Slurm job, and libraries change behaviour when they see them);
    with `slurm_env` a single-task, single-node Slurm job's variables are set instead.
    """
    env = {k: v for k, v in base.items() if not k.startswith(_SLURM_PREFIXES)}
    gpu_list = ",".join(str(g) for g in gpus)
    is_array = array_job_id is not None and array_task_id is not None
    env["CUDA_VISIBLE_DEVICES"] = gpu_list
    env["NVIDIA_VISIBLE_DEVICES"] = gpu_list
    env["MLRP_JOB_ID"] = str(job_id)
    env["MLRP_JOB_NAME"] = job_name
    env["MLRP_GPUS"] = gpu_list
    env["MLRP_NUM_GPUS"] = str(len(gpus))
    env["MLRP_ACCOUNT"] = account
    env["MLRP_PARTITION"] = partition
    env["MLRP_CPUS"] = str(cpus)
    env["MLRP_TIME_LIMIT"] = str(time_limit)
    if mem_mb is not None:
        env["MLRP_MEM_MB"] = str(mem_mb)
    env["MLRP_RESTART_COUNT"] = str(restart_count)
    env["MLRP_SUBMIT_DIR"] = submit_dir
    if is_array:
        env["MLRP_ARRAY_JOB_ID"] = str(array_job_id)
        env["MLRP_ARRAY_TASK_ID"] = str(array_task_id)
    env.setdefault("OMP_NUM_THREADS", str(cpus))
    if slurm_env:
        env.update(
            {
                "SLURM_JOB_ID": str(job_id),
                "SLURM_JOBID": str(job_id),
                "SLURM_JOB_NAME": job_name,
                "SLURM_JOB_USER": user,
                "SLURM_JOB_ACCOUNT": account,
                "SLURM_JOB_PARTITION": partition,
                "SLURM_CPUS_PER_TASK": str(cpus),
                "SLURM_CPUS_ON_NODE": str(cpus),
                "SLURM_NTASKS": "1",
                "SLURM_NPROCS": "1",
                "SLURM_NNODES": "1",
                "SLURM_JOB_NUM_NODES": "1",
                "SLURM_PROCID": "0",
                "SLURM_LOCALID": "0",
                "SLURM_NODEID": "0",
                "SLURM_JOB_NODELIST": hostname,
                "SLURM_NODELIST": hostname,
                "SLURMD_NODENAME": hostname,
                "SLURM_SUBMIT_DIR": submit_dir,
                "SLURM_SUBMIT_HOST": hostname,
                "SLURM_RESTART_COUNT": str(restart_count),
            }
        )
        if gpus:  # as Slurm: only jobs with GPUs get these
            env["SLURM_JOB_GPUS"] = gpu_list
            env["SLURM_GPUS_ON_NODE"] = str(len(gpus))
        if mem_mb is not None:
            env["SLURM_MEM_PER_NODE"] = str(mem_mb)
        if is_array:
            env["SLURM_ARRAY_JOB_ID"] = str(array_job_id)
            env["SLURM_ARRAY_TASK_ID"] = str(array_task_id)
    return env
