"""The typed Python client of the mlrp API; the CLI uses nothing else to reach the daemon.

Stdlib-only so that every CLI call starts fast.
"""

from mlrp.client.api import Client

__all__ = ["Client"]
