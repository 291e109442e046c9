"""gres.conf (each node's GPU device files, or NVML autodetection) and cgroup.conf."""

from __future__ import annotations

from collections.abc import Sequence

from mlrp.slurm.confgen.names import block, gpu_type, header, hostlist, ranges
from mlrp.slurm.confgen.nodes import grouped
from mlrp.slurm.confgen.values import NodeHardware, SiteOptions


def render_gres_conf(nodes: Sequence[NodeHardware], options: SiteOptions) -> str:
    head = header("gres.conf", options)
    if options.gres_autodetect:
        return block(
            [
                *head,
                "# slurmd finds the GPUs through NVML; their types must match slurm.conf's",
                "# Gres= (NVML's name in lower case, '_' for spaces)",
                "AutoDetect=nvml",
            ]
        )
    lines = [*head, "# every GPU's device file, by node", "AutoDetect=off"]
    for same in grouped([n for n in nodes if n.gpus], _gres_key):
        names = hostlist(n.name for n in same)
        for group in same[0].gpus:
            files = device_files(options.device_dir, group.indices)
            lines.append(f"NodeName={names} Name=gpu Type={gpu_type(group.model)} File={files}")
    return block(lines)


def _gres_key(node: NodeHardware) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((gpu_type(g.model), g.indices) for g in node.gpus)


def device_files(device_dir: str, indices: Sequence[int]) -> str:
    """`/dev/nvidia[0-7]`, or `/dev/nvidia3` for one GPU."""
    spans = ranges(indices)
    body = spans if len(indices) == 1 else f"[{spans}]"
    return f"{device_dir.rstrip('/')}/nvidia{body}"


def render_cgroup_conf(options: SiteOptions) -> str:
    unused = [] if options.cgroups else ["# (unused: slurm.conf tracks jobs without cgroups)"]
    return block(
        [
            *header("cgroup.conf", options),
            *unused,
            "# confine each job to its CPUs, memory and GPUs (the devices of its GRES only)",
            "CgroupPlugin=autodetect",
            "ConstrainCores=yes",
            "ConstrainRAMSpace=yes",
            "ConstrainSwapSpace=yes",
            "ConstrainDevices=yes",
        ]
    )
