"""The nodes of the cluster: names from `--nodes`, hardware from this machine (with the
command line's overrides) or from an inventory file, and the checks every node passes."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from mlrp.errors import ConfigError, InvalidSpec
from mlrp.models.hardware import Gpu, Inventory
from mlrp.parsing.topology import expand_hostlist
from mlrp.slurm.confgen.names import check_host_name, gpu_type
from mlrp.slurm.confgen.values import GpuGroup, NodeHardware

_K = TypeVar("_K", bound=Hashable)
_INVENTORY_KEYS = {"names": str, "gpus": int, "gpu_model": str, "cpus": int, "memory_mb": int}


def node_names(hostlist: str) -> list[str]:
    """The node names of `--nodes`: comma-separated names or Slurm hostlists
    (`gpu[01-04],login`), each a valid short host name, none twice."""
    try:
        names = expand_hostlist(hostlist)
    except InvalidSpec as e:
        raise ConfigError(str(e)) from None
    if not names:
        raise ConfigError("no node names given")
    for name in names:
        check_host_name(name, "node")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"node names given more than once: {', '.join(repeated)}")
    return names


def machine_node(inventory: Inventory) -> NodeHardware:
    """This machine as a node, by the name, CPUs, memory and GPUs mlrp found."""
    return NodeHardware(
        name=inventory.hostname,
        cpus=inventory.cpus,
        memory_mb=inventory.memory_mb,
        gpus=gpu_groups(inventory.gpus),
    )


def gpu_groups(gpus: Sequence[Gpu]) -> tuple[GpuGroup, ...]:
    """Group a node's GPUs by model, in index order (first appearance of each model)."""
    by_model: dict[str, list[int]] = {}
    for gpu in sorted(gpus, key=lambda g: g.index):
        by_model.setdefault(gpu.model, []).append(gpu.index)
    return tuple(GpuGroup(model, tuple(indices)) for model, indices in by_model.items())


def uniform_gpus(count: int, model: str) -> tuple[GpuGroup, ...]:
    """`count` GPUs of `model` at /dev/nvidia0..count-1 (none when count is 0)."""
    if count < 0:
        raise ConfigError(f"a node cannot have {count} GPUs")
    return (GpuGroup(model, tuple(range(count))),) if count else ()


def with_overrides(
    node: NodeHardware,
    *,
    gpus: int | None = None,
    gpu_model: str | None = None,
    cpus: int | None = None,
    memory_mb: int | None = None,
) -> NodeHardware:
    """`node` with the values given replaced. A GPU count or model given makes the
    GPUs uniform: the count given (or the node's), of the model given (or the node's
    first)."""
    groups = node.gpus
    if gpus is not None or gpu_model is not None:
        count = node.gpu_count if gpus is None else gpus
        model = gpu_model or (node.gpus[0].model if node.gpus else None)
        if model is None and count:
            raise ConfigError(f"{count} GPUs of which model? Give the GPU model too")
        groups = uniform_gpus(count, model or "")
    return NodeHardware(
        name=node.name,
        cpus=node.cpus if cpus is None else cpus,
        memory_mb=node.memory_mb if memory_mb is None else memory_mb,
        gpus=groups,
    )


def named(template: NodeHardware, names: Sequence[str]) -> list[NodeHardware]:
    return [NodeHardware(name, template.cpus, template.memory_mb, template.gpus) for name in names]


def parse_inventory(text: str, source: str, template: NodeHardware) -> list[NodeHardware]:
    """The nodes of an inventory file (TOML); a key an entry leaves out comes from
    `template` (this machine, with the command line's overrides):

        [[nodes]]
        names = "gpu[01-04]"        # required: names or hostlists
        gpus = 8
        gpu_model = "a100"
        cpus = 64
        memory_mb = 515000
    """
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: {e}") from None
    entries = data.get("nodes")
    if set(data) != {"nodes"} or not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: expected one or more [[nodes]] tables and nothing else")
    nodes = [
        n
        for i, e in enumerate(entries)
        for n in _inventory_entry(e, f"{source}: nodes[{i}]", template)
    ]
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise ConfigError(f"{source}: node {node.name!r} is listed twice")
        seen.add(node.name)
    return nodes


def _inventory_entry(entry: object, where: str, template: NodeHardware) -> list[NodeHardware]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    for key, value in entry.items():
        kind = _INVENTORY_KEYS.get(key)
        if kind is None:
            known = ", ".join(_INVENTORY_KEYS)
            raise ConfigError(f"{where}: unknown key {key!r} (known: {known})")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    if "names" not in entry:
        raise ConfigError(f"{where}: names is required")
    try:
        names = node_names(entry["names"])
    except ConfigError as e:
        raise ConfigError(f"{where}.names: {e}") from None
    hardware = with_overrides(
        template,
        gpus=entry.get("gpus"),
        gpu_model=entry.get("gpu_model"),
        cpus=entry.get("cpus"),
        memory_mb=entry.get("memory_mb"),
    )
    return named(hardware, names)


def check_nodes(nodes: Sequence[NodeHardware]) -> None:
    """What Slurm needs of every node: a host name, none twice, a CPU and memory, GPU
    models that can be GRES types."""
    if not nodes:
        raise ConfigError("no nodes: a cluster needs at least one")
    seen: set[str] = set()
    for node in nodes:
        check_host_name(node.name, "node")
        if node.name in seen:
            raise ConfigError(f"node {node.name!r} is listed twice")
        seen.add(node.name)
        if node.cpus < 1 or node.memory_mb < 1:
            raise ConfigError(f"node {node.name!r} needs at least 1 CPU and 1 MB of memory")
        for group in node.gpus:
            gpu_type(group.model)


def grouped(
    nodes: Sequence[NodeHardware], key: Callable[[NodeHardware], _K]
) -> list[list[NodeHardware]]:
    """Nodes with the same key, in first-appearance order."""
    groups: dict[_K, list[NodeHardware]] = {}
    for node in nodes:
        groups.setdefault(key(node), []).append(node)
    return list(groups.values())
