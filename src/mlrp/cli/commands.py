"""Daemon and machine commands: up, down, nodes, gpus, share."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlrp.cli.tables import table
from mlrp.client import Client
from mlrp.errors import DaemonUnavailable, MlrpError
from mlrp.paths import daemon_log_path, home_dir, socket_path

START_TIMEOUT = 30.0
MODE_HELP = (
    "personal: every job runs as the daemon's user; multi-user: jobs run as their callers "
    "(needs root); auto (default): multi-user when root"
)


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="run the daemon (foreground unless --detach)")
    up.add_argument("--detach", "-d", action="store_true", help="run in the background")
    up.add_argument("--config", type=Path, help="config file (default $MLRP_HOME/config.toml)")
    up.add_argument("--simulated-gpus", type=int, metavar="N",
                    help="use N simulated GPUs instead of real ones")  # fmt: skip
    up.add_argument("--mode", choices=["auto", "personal", "multi-user"], help=MODE_HELP)
    up.set_defaults(handler=cmd_up)

    down = sub.add_parser("down", help="stop the daemon (running jobs keep running)")
    down.set_defaults(handler=cmd_down)

    for name, handler, helptext in (
        ("nodes", cmd_nodes, "the machine(s) and their GPU counts"),
        ("gpus", cmd_gpus, "every GPU, its state and which job holds it"),
        ("share", cmd_share, "the fair-share tree: shares, decayed usage, factor"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=handler)


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
    serve(DaemonOptions(home=home, config_file=args.config,
                        simulated_gpus=args.simulated_gpus, mode=args.mode))  # fmt: skip
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
    log_path = daemon_log_path(home)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, env={**os.environ, "MLRP_HOME": str(home)},
        )  # fmt: skip
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


def cmd_nodes(args: argparse.Namespace) -> int:
    rows = Client().nodes()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(table(
        ["NODE", "STATE", "GPUS", "ALLOC", "MODELS", "CPUS", "MEMORY", "SOURCE", "PARTITIONS"],
        [[n["name"], n["state"], n["gpus"], n["gpus_allocated"], ",".join(n["gpu_models"]),
          n["cpus"], f"{n['memory_mb'] // 1024}G", n["source"], ",".join(n["partitions"])]
         for n in rows],
    ))  # fmt: skip
    for node in rows:
        if node["links"]:
            print(f"\nGPU links on {node['name']} (NV = NVLink):")
            n = len(node["links"])
            print(table([""] + [f"GPU{i}" for i in range(n)],
                        [[f"GPU{i}", *row] for i, row in enumerate(node["links"])]))  # fmt: skip
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    rows = Client().gpus()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(table(
        ["GPU", "MODEL", "MEMORY", "STATE", "JOB", "USER", "UTIL", "MEM_USED", "PIDS"],
        [[g["index"], g["model"], f"{g['memory_mb'] // 1024}G", g["state"], g["job_id"] or "",
          g["job_user"] or "", _pct(g["utilization"]), _mb(g["memory_used_mb"]),
          ",".join(map(str, g["pids"]))] for g in rows],
    ))  # fmt: skip
    return 0


def _pct(value: int | None) -> str:
    return "-" if value is None else f"{value}%"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value}M"


def cmd_share(args: argparse.Namespace) -> int:
    rows = Client().share()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(table(
        ["ACCOUNT", "USER", "RAWSHARES", "NORMSHARES", "RAWUSAGE(GPU-s)", "NORMUSAGE",
         "EFFECTVUSAGE", "FAIRSHARE"],
        [[" " * r["depth"] + r["account"], r["user"] or "", r["raw_shares"],
          f"{r['norm_shares']:.6f}", f"{r['raw_usage']:.0f}", f"{r['norm_usage']:.6f}",
          f"{r['effective_usage']:.6f}", f"{r['fairshare']:.6f}"] for r in rows],
    ))  # fmt: skip
    return 0
