"""Where mlrp lives, as plain strings: the CLI imports this on every call, so it uses
os.path only (pathlib would cost a CLI call more than the rest of this module).

Default home: `/var/lib/mlrp` for root, `~/.local/share/mlrp` for anyone else;
`MLRP_HOME` overrides it.
"""

from __future__ import annotations

import os

SYSTEM_HOME = "/var/lib/mlrp"
SOCKET_NAME = "mlrp.sock"


def default_home() -> str:
    if os.geteuid() == 0:
        return SYSTEM_HOME
    return os.path.join(os.path.expanduser("~"), ".local", "share", "mlrp")


def home_dir() -> str:
    explicit = os.environ.get("MLRP_HOME")
    return os.path.abspath(os.path.expanduser(explicit)) if explicit else default_home()


def socket_path(home: str) -> str:
    return os.path.join(home, SOCKET_NAME)


def client_socket_path() -> str:
    """The socket a CLI call should use: `$MLRP_HOME`'s, else the user's own daemon if it
    runs, else the system daemon's (a researcher on a shared server sets nothing)."""
    if os.environ.get("MLRP_HOME"):
        return socket_path(home_dir())
    own = socket_path(default_home())
    system = socket_path(SYSTEM_HOME)
    if os.path.exists(own) or not os.path.exists(system):
        return own
    return system
