"""The values `render` takes and gives: nodes (`NodeHardware`, `GpuGroup`), the site's
layout (`SiteOptions`) and the rendered files (`SlurmFiles`). No logic, no imports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuGroup:
    """GPUs of one model on a node: the model as the hardware names it, and the device
    numbers (`/dev/nvidia<i>`)."""

    model: str
    indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NodeHardware:
    """One node as Slurm sees it: name, CPUs, memory (MB) and GPUs."""

    name: str
    cpus: int
    memory_mb: int
    gpus: tuple[GpuGroup, ...] = ()

    @property
    def gpu_count(self) -> int:
        return sum(len(g.indices) for g in self.gpus)


@dataclass(frozen=True, slots=True)
class SiteOptions:
    """How the cluster is laid out, beyond what mlrp knows.

    The defaults describe a production cluster (Debian's paths, cgroups, slurmdbd on the
    controller); `state_dir`, the ports, `single_host`, `slurm_user`, `munge_socket`,
    `cgroups=False` and `accounting=False` serve test clusters on one machine."""

    cluster_name: str = "lab"
    controller: str | None = None  # default: the first node (localhost with single_host)
    source: str = "mlrp's default policy"
    accounting: bool = True  # slurmdbd; False: accounting_storage/none
    accounting_host: str | None = None  # default: the controller
    accounting_port: int | None = None
    cgroups: bool = True  # False: proctrack/linuxproc, task/none
    gres_autodetect: bool = False  # True: AutoDetect=nvml instead of File= lines
    device_dir: str = "/dev"
    state_dir: str | None = None  # one folder for state, spool, pid and log files
    ctld_port: int | None = None
    slurmd_port: int | None = None  # with single_host: the first node's, then +1 each
    single_host: bool = False  # every node a slurmd on 127.0.0.1 (slurmd -N NAME)
    slurm_user: str = "slurm"
    munge_socket: str | None = None
    kill_wait: int | None = None  # seconds between SIGTERM and SIGKILL (mlrp's grace)


@dataclass(frozen=True, slots=True)
class SlurmFiles:
    """The rendered files, by the names they are written under."""

    slurm_conf: str
    gres_conf: str
    cgroup_conf: str
    accounts_sh: str

    def named(self) -> tuple[tuple[str, str], ...]:
        return (
            ("slurm.conf", self.slurm_conf),
            ("gres.conf", self.gres_conf),
            ("cgroup.conf", self.cgroup_conf),
            ("accounts.sh", self.accounts_sh),
        )
