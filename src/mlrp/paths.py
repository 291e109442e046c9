"""Where the daemon keeps its files, as `Path`s (the CLI uses `mlrp.locations`).

`MLRP_HOME` holds the config (`config.toml`), the state database (`state.db`), the
daemon's socket (`mlrp.sock`), its pid file and log, and one folder per job.
"""

from __future__ import annotations

from pathlib import Path

from mlrp import locations


def home_dir() -> Path:
    return Path(locations.home_dir())


def socket_path(home: Path) -> Path:
    return Path(locations.socket_path(str(home)))


def config_path(home: Path) -> Path:
    return home / "config.toml"


def database_path(home: Path) -> Path:
    return home / "state.db"


def jobs_dir(home: Path) -> Path:
    return home / "jobs"


def ended_dir(home: Path) -> Path:
    return home / "ended"


def pid_path(home: Path) -> Path:
    return home / "mlrpd.pid"


def daemon_log_path(home: Path) -> Path:
    return home / "mlrpd.log"
