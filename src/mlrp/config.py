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

    [backend]
    kind = "local"           # "local": mlrp's scheduler runs jobs on this machine;
                             # "slurm": jobs go to a Slurm cluster, which schedules them
    conf = "/etc/slurm/slurm.conf"  # slurm: Slurm's config (default: $SLURM_CONF, or
                             # Slurm's own default)
    bin_dir = "/usr/bin"     # slurm: where sbatch, squeue... are (default: from PATH)
    poll_interval = 2.0      # slurm: seconds between squeue calls while jobs are active
    idle_poll_interval = 30.0  # slurm: the longest wait between calls while none is
    submit_workers = 4       # slurm: sbatch processes at once for a batch
    command_timeout = 60.0   # slurm: seconds a Slurm command may take

    [api]                    # the REST API on TCP (the Unix socket is always served)
    bind = "127.0.0.1"       # address to listen on ("0.0.0.0": every interface)
    port = 8765              # 0: no TCP listener
    session_hours = 12       # browser sessions (POST /api/v1/login) last this long
    login_failures = 5       # failed logins a minute, per user and per address; then 429
    trusted_proxies = []     # addresses whose X-Forwarded-For/-Proto are believed (a
                             # TLS-terminating reverse proxy: cookies get Secure)

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


class BackendSettings(BaseModel):
    """What runs jobs; the Slurm keys apply with kind = "slurm" (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local", "slurm"] = "local"
    conf: str | None = None
    bin_dir: str | None = None
    poll_interval: float = Field(default=2.0, gt=0, le=600)
    idle_poll_interval: float = Field(default=30.0, gt=0, le=3600)
    submit_workers: int = Field(default=4, ge=1, le=64)
    command_timeout: float = Field(default=60.0, gt=0, le=3600)


class ApiSettings(BaseModel):
    """The API on TCP; requests there authenticate with a token or a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bind: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8765, ge=0, le=65535)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    login_failures: int = Field(default=5, ge=1, le=1000)
    trusted_proxies: list[str] = Field(default_factory=list)


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    backend: BackendSettings = Field(default_factory=BackendSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
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
