"""The daemon's configuration: a TOML file, every key optional.

    [daemon]
    mode = "auto"            # "personal" (everything runs as the daemon's user),
                             # "multi-user" (root; jobs run as their callers) or "auto"
    admins = ["alice"]       # may act on every job; root always may
    grace = 10               # seconds between the polite signal and SIGKILL
    tick = 0.05              # seconds between scheduling passes at most

    [hardware]
    simulated_gpus = 8       # used when NVML finds no GPU (or force_simulated = true)
    simulated_model = "sim-gpu"
    simulated_memory_mb = 81920
    force_simulated = false

    [scheduler]              # mlrp.models.policy.Policy: weights, half_life, limits...
    half_life = 86400
    [[scheduler.accounts]]
    name = "vision"
    shares = 2
    users = ["alice", "bob"]

Unknown keys are errors that name the key, so a typo never silently does nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlrp.errors import ConfigError
from mlrp.models.policy import Policy


class DaemonSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["auto", "personal", "multi-user"] = "auto"
    admins: list[str] = Field(default_factory=list)
    grace: int = Field(default=10, ge=0)
    tick: float = Field(default=0.05, gt=0, le=10)


class HardwareSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    simulated_gpus: int = Field(default=8, ge=0, le=1024)
    simulated_model: str = "sim-gpu"
    simulated_memory_mb: int = Field(default=81920, ge=1)
    force_simulated: bool = False
    # Simulated NVLink islands, e.g. [[0,1,2,3],[4,5,6,7]]; default: all GPUs joined.
    simulated_nvlink_groups: list[list[int]] | None = None


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    scheduler: Policy = Field(default_factory=Policy)


def load_config(path: Path | None) -> Config:
    """Read `path` (absent or None: all defaults) into a Config, or raise ConfigError."""
    if path is None or not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, object], *, source: str = "config") -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {describe_validation(e)}") from e
    check_policy(config.scheduler, source)
    return config


def describe_validation(error: ValidationError) -> str:
    """One line per problem: `scheduler.accounts.0.shares: Input should be ...`."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def check_policy(policy: Policy, source: str) -> None:
    names = [a.name for a in policy.accounts]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: account names must be unique: {names}")
    for account in policy.accounts:
        if account.parent is not None and account.parent not in names:
            raise ConfigError(
                f"{source}: account {account.name!r} has unknown parent {account.parent!r}"
            )
    if policy.partition(policy.default_partition) is None:
        raise ConfigError(
            f"{source}: default_partition {policy.default_partition!r} is not a partition"
        )
    if policy.qos_named(policy.default_qos) is None:
        raise ConfigError(f"{source}: default_qos {policy.default_qos!r} is not a QOS")
