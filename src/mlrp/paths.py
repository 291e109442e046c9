"""Where mlrp keeps its files. Stdlib-only: the CLI imports it.

`MLRP_HOME` holds the config (`config.toml`), the state database (`state.db`), the
daemon's socket (`mlrp.sock`), its pid file and log, and one folder per job.
Default: `/var/lib/mlrp` for root, `~/.local/share/mlrp` for anyone else.
"""

from __future__ import annotations

import os
from pathlib import Path

SYSTEM_HOME = Path("/var/lib/mlrp")


def default_home() -> Path:
    if os.geteuid() == 0:
        return SYSTEM_HOME
    return Path.home() / ".local" / "share" / "mlrp"


def home_dir() -> Path:
    explicit = os.environ.get("MLRP_HOME")
    return Path(explicit).expanduser().absolute() if explicit else default_home()


def socket_path(home: Path) -> Path:
    return home / "mlrp.sock"


def client_socket_path() -> Path:
    """The socket a CLI call should use: `$MLRP_HOME`'s, else the user's own daemon if it
    runs, else the system daemon's (a researcher on a shared server sets nothing)."""
    if os.environ.get("MLRP_HOME"):
        return socket_path(home_dir())
    own = socket_path(default_home())
    if own.exists() or not socket_path(SYSTEM_HOME).exists():
        return own
    return socket_path(SYSTEM_HOME)


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
