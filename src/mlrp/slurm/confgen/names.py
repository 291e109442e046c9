"""Names and values as Slurm writes them, checked first: host and other names, GPU
models as GRES types, durations in whole minutes, weights, hostlists and number ranges;
and the lines every rendered file shares (its header, `Key=value` settings)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlrp.errors import ConfigError
from mlrp.models.durations import format_duration
from mlrp.models.policy import Partition, Policy
from mlrp.slurm.confgen.values import SiteOptions

_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # accounts, users, QOS, partitions
_GPU_TYPE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_NUMBERED = re.compile(r"(.*?)(\d+)")
_RESERVED = {"default", "all"}  # NodeName=DEFAULT, PartitionName=DEFAULT, Nodes=ALL
UINT32_MAX = 2**32 - 1


# --------------------------------------------------------------------------- names


def check_host_name(name: str, what: str) -> None:
    if not _HOST_LABEL.fullmatch(name):
        hint = f" (use the short name, {name.split('.')[0]!r})" if "." in name else ""
        raise ConfigError(
            f"{what} name {name!r} is not a valid host name: letters, digits and '-', "
            f"at most 63, not starting or ending with '-'{hint}"
        )
    if name.lower() in _RESERVED:
        raise ConfigError(f"{what} name {name!r} is reserved in slurm.conf")


def check_name(name: str, what: str) -> None:
    """An account, user, QOS or partition name Slurm and a shell both take as is."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{what} name {name!r} cannot be written for Slurm: use letters, digits, "
            "'_', '.' and '-' only (no spaces, commas, '=' or quotes)"
        )


def check_policy_names(policy: Policy) -> None:
    for kind, names in (
        ("account", [a.name for a in policy.accounts]),
        ("QOS", [q.name for q in policy.qos]),
        ("partition", [p.name for p in policy.partitions]),
        ("user", [u for a in policy.accounts for u in a.users]),
    ):
        for name in names:
            check_name(name, kind)
        if kind != "user":
            _check_case_collisions(kind, names)
    for partition in policy.partitions:
        if partition.name.lower() in _RESERVED:
            raise ConfigError(f"partition name {partition.name!r} is reserved in slurm.conf")


def _check_case_collisions(kind: str, names: list[str]) -> None:
    """Slurm stores account and QOS names in lower case: two must not fold together."""
    folded: dict[str, str] = {}
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{kind} {name!r} is defined twice")
        other = folded.setdefault(name.lower(), name)
        if other != name:
            raise ConfigError(
                f"{kind} names {other!r} and {name!r} are the same name to Slurm, which "
                "ignores case"
            )


def gpu_type(model: str) -> str:
    """The GRES type of a GPU model, named as Slurm's NVML autodetection names it."""
    name = model.strip().lower().replace(" ", "_")
    if not _GPU_TYPE.fullmatch(name):
        raise ConfigError(
            f"GPU model {model!r} cannot be a Slurm GRES type: letters, digits, spaces, "
            "'_', '.' and '-' only"
        )
    return name


def partition_qos_name(partition: Partition) -> str:
    """The QOS that carries a partition's GPU limits (made by accounts.sh)."""
    return f"part_{partition.name}"


def has_gpu_limits(partition: Partition) -> bool:
    """Whether `partition` needs its QOS (`partition_qos_name`)."""
    return partition.max_gpus_per_job is not None or partition.max_gpus is not None


# --------------------------------------------------------------------------- values


def slurm_time(seconds: float, what: str) -> str:
    """A duration in Slurm's time format (D-HH:MM:SS), which counts whole minutes."""
    if seconds <= 0 or seconds % 60:
        raise ConfigError(
            f"{what} = {seconds:g} s cannot be written for Slurm, which counts whole "
            "minutes: use a multiple of 60"
        )
    return format_duration(int(seconds))


def weight(value: int, what: str) -> str:
    if value > UINT32_MAX:
        raise ConfigError(f"{what} = {value} is larger than Slurm's {UINT32_MAX}")
    return str(value)


def number(value: float) -> str:
    """A billing weight or usage factor: 2.0, 0.25."""
    return repr(float(value))


def hostlist(names: Iterable[str]) -> str:
    """Slurm's compressed hostlist of `names`: gpu01..gpu04 -> gpu[01-04]. Names that
    share a prefix and a number width share a bracket; others stay as they are."""
    groups: dict[tuple[str, int], list[int]] = {}  # (prefix, digits) -> numbers
    for name in names:
        m = _NUMBERED.fullmatch(name)
        if m is None:
            groups.setdefault((name, -1), [])
        else:
            groups.setdefault((m.group(1), len(m.group(2))), []).append(int(m.group(2)))
    parts = []
    for (prefix, width), numbers in groups.items():
        if width < 0:
            parts.append(prefix)
        elif len(set(numbers)) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}")
        else:
            parts.append(f"{prefix}[{ranges(numbers, width)}]")
    return ",".join(parts)


def ranges(numbers: Iterable[int], width: int = 0) -> str:
    """`0,1,2,3,6` -> `0-3,6` (zero-padded to `width`)."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(
        f"{lo:0{width}d}" if lo == hi else f"{lo:0{width}d}-{hi:0{width}d}" for lo, hi in spans
    )


# --------------------------------------------------------------------------- lines


def header(name: str, options: SiteOptions) -> list[str]:
    """The comment each file starts with: what made it, from what."""
    return [
        f"# {name} for cluster {options.cluster_name.lower()}, generated by `mlrp slurm config`",
        f"# from {options.source}.",
        "# Change mlrp's config and generate again rather than editing this file.",
    ]


def optional(key: str, value: object | None) -> list[str]:
    """`Key=value`, or nothing when there is no value."""
    return [] if value is None else [f"{key}={value}"]


def block(lines: Iterable[str]) -> str:
    """`lines` as text, each ending in a newline."""
    return "\n".join(lines) + "\n"
