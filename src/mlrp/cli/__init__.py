"""The `mlrp` command line: Slurm-flavoured, talking to the daemon only through the client.

Kept lean (stdlib + mlrp.client at import time) so that a call starts about as fast as
the interpreter itself; the daemon's heavy imports happen only in `mlrp up`.
"""
