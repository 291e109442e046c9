"""Daemon commands: `mlrp up` (run it) and `mlrp down` (stop it)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from mlrp.client import Client
from mlrp.errors import DaemonUnavailable, MlrpError
from mlrp.paths import daemon_log_path, home_dir, socket_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

START_TIMEOUT = 30.0
MODE_HELP = (
    "personal: every job runs as the daemon's user; multi-user: jobs run as their callers "
    "(needs root); auto (default): multi-user when root"
)


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="run the daemon (foreground unless --detach)")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background")
    up.add_argument("--config", type=Path, help="config file (default $MLRP_HOME/config.toml)")
    up.add_argument(
        "--simulated-gpus", type=int, metavar="N", help="use N simulated GPUs, not real ones"
    )
    up.add_argument("--mode", choices=["auto", "personal", "multi-user"], help=MODE_HELP)
    up.add_argument(
        "--port", type=int, metavar="PORT", help="the API's TCP port, over [api] port (0: off)"
    )
    up.add_argument("--bind", metavar="ADDRESS", help="the API's TCP address, over [api] bind")
    up.set_defaults(handler=cmd_up)

    down = sub.add_parser("down", help="stop the daemon (running jobs keep running)")
    down.set_defaults(handler=cmd_down)


def cmd_up(args: argparse.Namespace) -> int:
    home = home_dir()
    if args.detach:
        return _start_detached(args, home)
    # The daemon's imports (FastAPI, uvicorn, pydantic) are loaded only here, so that
    # every other CLI call stays quick.
    import logging

    from mlrp.daemon.server import DaemonOptions, serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(
        DaemonOptions(
            home=home,
            config_file=args.config,
            simulated_gpus=args.simulated_gpus,
            mode=args.mode,
            api_port=args.port,
            api_bind=args.bind,
        )
    )
    return 0


def _start_detached(args: argparse.Namespace, home: Path) -> int:
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlrp.cli.main", "up"]
    if args.config:
        command += ["--config", str(args.config.absolute())]
    if args.simulated_gpus is not None:
        command += ["--simulated-gpus", str(args.simulated_gpus)]
    if args.mode:
        command += ["--mode", args.mode]
    if args.port is not None:
        command += ["--port", str(args.port)]
    if args.bind:
        command += ["--bind", args.bind]
    log_path = daemon_log_path(home)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "MLRP_HOME": str(home)},
        )
    client = Client(str(socket_path(home)))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise MlrpError("the daemon did not start:\n" + "\n".join(tail))
        try:
            me = client.whoami()
        except DaemonUnavailable:
            time.sleep(0.05)
            continue
        mode = "multi-user" if me["multi_user"] else "personal"
        print(f"mlrp daemon started (pid {process.pid}, {mode} mode), home {home}")
        return 0
    raise MlrpError(f"the daemon did not answer within {START_TIMEOUT:.0f} s; see {log_path}")


def cmd_down(args: argparse.Namespace) -> int:
    client = Client(str(socket_path(home_dir())))
    client.stop_daemon()
    deadline = time.monotonic() + 15
    while socket_path(home_dir()).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("mlrp daemon stopped; running jobs keep running and are adopted at the next start")
    return 0
