"""The machine's inventory: real GPUs when NVML finds some, simulated ones otherwise."""

from __future__ import annotations

import os
import socket

import psutil

from mlrp.config import HardwareSettings
from mlrp.hardware import nvml
from mlrp.models.hardware import Gpu, Inventory, LinkKind


def discover(settings: HardwareSettings, *, simulated_gpus: int | None = None) -> Inventory:
    """Real GPUs unless none are found or simulation is forced (`simulated_gpus` given on
    the command line forces it too)."""
    real = None
    if simulated_gpus is None and not settings.force_simulated:
        real = nvml.discover()
    if real is not None:
        gpus, links = real
        return _inventory(gpus, links, source="nvml")
    count = settings.simulated_gpus if simulated_gpus is None else simulated_gpus
    gpus = simulated(count, settings.simulated_model, settings.simulated_memory_mb)
    groups = settings.simulated_nvlink_groups or [list(range(count))]
    return _inventory(gpus, simulated_links(count, groups), source="simulated")


def simulated(count: int, model: str, memory_mb: int) -> list[Gpu]:
    return [
        Gpu(index=i, uuid=f"GPU-sim-{i:04d}", model=model, memory_mb=memory_mb, simulated=True)
        for i in range(count)
    ]


def simulated_links(count: int, groups: list[list[int]]) -> list[list[LinkKind]]:
    """NVLink inside each group, host bridge between groups."""
    group_of = {index: n for n, group in enumerate(groups) for index in group}
    return [
        [
            LinkKind.SELF
            if i == j
            else LinkKind.NVLINK
            if group_of.get(i, -1 - i) == group_of.get(j, -2 - j)
            else LinkKind.HOST_BRIDGE
            for j in range(count)
        ]
        for i in range(count)
    ]


def nvlink_groups(links: list[list[LinkKind]]) -> list[list[int]]:
    """Connected components of the NVLink graph, each sorted."""
    seen: set[int] = set()
    groups: list[list[int]] = []
    for start in range(len(links)):
        if start in seen:
            continue
        group, frontier = [], [start]
        while frontier:
            i = frontier.pop()
            if i in seen:
                continue
            seen.add(i)
            group.append(i)
            frontier.extend(j for j, kind in enumerate(links[i]) if kind == LinkKind.NVLINK)
        groups.append(sorted(group))
    return groups


def _inventory(gpus: list[Gpu], links: list[list[LinkKind]], *, source: str) -> Inventory:
    return Inventory(
        hostname=socket.gethostname().split(".")[0],
        gpus=gpus,
        links=links,
        cpus=os.cpu_count() or 1,
        memory_mb=psutil.virtual_memory().total // (1024 * 1024),
        source=source,
    )
