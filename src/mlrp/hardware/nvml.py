"""GPU discovery and sampling through NVML (nvidia-ml-py).

`discover()` returns None when NVML is absent or finds no GPU, so callers fall back to
simulated GPUs. Link kinds follow `nvidia-smi topo -m`: NVLink when any active link
joins the pair, otherwise the closest common PCIe ancestor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mlrp.models.hardware import Gpu, LinkKind

log = logging.getLogger(__name__)

# nvmlGpuTopologyLevel_t -> nvidia-smi topo vocabulary
_TOPOLOGY_LEVELS = {
    0: LinkKind.SELF,  # INTERNAL
    10: LinkKind.SAME_SWITCH,  # SINGLE
    20: LinkKind.MULTI_SWITCH,  # MULTIPLE
    30: LinkKind.HOST_BRIDGE,  # HOSTBRIDGE
    40: LinkKind.SAME_NUMA,  # NODE
    50: LinkKind.CROSS_NUMA,  # SYSTEM
}


@dataclass(frozen=True, slots=True)
class GpuSample:
    index: int
    utilization: int | None  # percent
    memory_used_mb: int | None
    pids: tuple[int, ...]


def _nvml() -> Any | None:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as e:  # the library raises its own error types, or ImportError
        log.info("NVML unavailable: %s", e)
        return None
    return pynvml


def discover() -> tuple[list[Gpu], list[list[LinkKind]]] | None:
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return None
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        gpus = [_describe(nvml, i, h) for i, h in enumerate(handles)]
        return gpus, _link_matrix(nvml, handles)
    finally:
        nvml.nvmlShutdown()


def _describe(nvml: Any, index: int, handle: Any) -> Gpu:
    name = nvml.nvmlDeviceGetName(handle)
    uuid = nvml.nvmlDeviceGetUUID(handle)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return Gpu(
        index=index,
        uuid=uuid.decode() if isinstance(uuid, bytes) else uuid,
        model=name.decode() if isinstance(name, bytes) else name,
        memory_mb=int(memory.total // (1024 * 1024)),
    )


def _link_matrix(nvml: Any, handles: list[Any]) -> list[list[LinkKind]]:
    bus_ids = [_bus_id(nvml, h) for h in handles]
    matrix = []
    for i, a in enumerate(handles):
        peers = _nvlink_peers(nvml, a)
        row = []
        for j, b in enumerate(handles):
            if i == j:
                row.append(LinkKind.SELF)
            elif bus_ids[j] in peers:
                row.append(LinkKind.NVLINK)
            else:
                row.append(_pcie_level(nvml, a, b))
        matrix.append(row)
    return matrix


def _bus_id(nvml: Any, handle: Any) -> str:
    bus = nvml.nvmlDeviceGetPciInfo(handle).busId
    return (bus.decode() if isinstance(bus, bytes) else bus).lower()


def _nvlink_peers(nvml: Any, handle: Any) -> set[str]:
    peers: set[str] = set()
    for link in range(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18)):
        try:
            if nvml.nvmlDeviceGetNvLinkState(handle, link) != nvml.NVML_FEATURE_ENABLED:
                continue
            bus = nvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId
        except nvml.NVMLError:
            continue
        peers.add((bus.decode() if isinstance(bus, bytes) else bus).lower())
    return peers


def _pcie_level(nvml: Any, a: Any, b: Any) -> LinkKind:
    try:
        level = nvml.nvmlDeviceGetTopologyCommonAncestor(a, b)
    except nvml.NVMLError:
        return LinkKind.CROSS_NUMA
    return _TOPOLOGY_LEVELS.get(int(level), LinkKind.CROSS_NUMA)


def sample(indices: list[int]) -> dict[int, GpuSample]:
    """Current utilization, memory in use and compute processes of each GPU."""
    nvml = _nvml()
    if nvml is None:
        return {}
    try:
        return {i: _sample_one(nvml, i) for i in indices}
    finally:
        nvml.nvmlShutdown()


def _sample_one(nvml: Any, index: int) -> GpuSample:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    try:
        utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except nvml.NVMLError:
        utilization = None
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        pids = tuple(int(p.pid) for p in processes)
    except nvml.NVMLError:
        pids = ()
    return GpuSample(index, utilization, int(memory.used // (1024 * 1024)), pids)
