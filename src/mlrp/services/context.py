"""What every service needs, built once by the daemon (the composition root)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlrp.config import Config
from mlrp.executors.base import Executor
from mlrp.models.hardware import Inventory
from mlrp.models.policy import Policy
from mlrp.store import Store


@dataclass
class Platform:
    config: Config
    home: Path
    store: Store
    inventory: Inventory
    executor: Executor
    clock: Callable[[], float]
    multi_user: bool
    # Set whenever something happened that a scheduling pass should look at.
    wake: Callable[[], None] = field(default=lambda: None)

    @property
    def policy(self) -> Policy:
        return self.config.scheduler

    @property
    def daemon_user(self) -> str:
        return pwd.getpwuid(os.geteuid()).pw_name


def decide_multi_user(mode: str) -> bool:
    """`auto` means multi-user exactly when the daemon runs as root."""
    if mode == "auto":
        return os.geteuid() == 0
    return mode == "multi-user"
