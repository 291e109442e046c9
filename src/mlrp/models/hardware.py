"""GPUs and the links between them, as the hardware layer reports them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class LinkKind(StrEnum):
    """How two GPUs talk, best first (nvidia-smi topo -m vocabulary)."""

    NVLINK = "NV"
    SAME_SWITCH = "PIX"
    MULTI_SWITCH = "PXB"
    HOST_BRIDGE = "PHB"
    SAME_NUMA = "NODE"
    CROSS_NUMA = "SYS"
    SELF = "X"


class Gpu(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    uuid: str
    model: str
    memory_mb: int
    simulated: bool = False


class Inventory(BaseModel):
    """Everything the hardware layer found on this machine."""

    model_config = ConfigDict(frozen=True)

    hostname: str
    gpus: list[Gpu] = Field(default_factory=list)
    # links[i][j] for GPU indices i, j; LinkKind.SELF on the diagonal.
    links: list[list[LinkKind]] = Field(default_factory=list)
    cpus: int = 1
    memory_mb: int = 0
    source: str = "simulated"  # "nvml" or "simulated"
