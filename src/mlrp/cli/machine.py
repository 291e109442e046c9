"""Machine and policy views: `mlrp nodes`, `mlrp gpus`, `mlrp share`."""

from __future__ import annotations

import argparse
import json

from mlrp.client import Client
from mlrp.tables import table

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any


def register(sub: Any) -> None:
    for name, handler, helptext in (
        ("nodes", cmd_nodes, "the machine(s) and their GPU counts"),
        ("gpus", cmd_gpus, "every GPU, its state and which job holds it"),
        ("share", cmd_share, "the fair-share tree: shares, decayed usage, factor"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=handler)


NODE_HEADERS = [
    "NODE",
    "STATE",
    "GPUS",
    "ALLOC",
    "MODELS",
    "CPUS",
    "MEMORY",
    "SOURCE",
    "PARTITIONS",
]
GPU_HEADERS = ["GPU", "MODEL", "MEMORY", "STATE", "JOB", "USER", "UTIL", "MEM_USED", "PIDS"]
SHARE_HEADERS = [
    "ACCOUNT", "USER", "RAWSHARES", "NORMSHARES", "RAWUSAGE(GPU-s)", "NORMUSAGE",
    "EFFECTVUSAGE", "FAIRSHARE", "LEVEL_FS",
]  # fmt: skip


def show(
    args: argparse.Namespace, rows: list[dict[str, Any]], headers: list[str], cells: Any
) -> None:
    """Print `rows` as JSON with --json, else as a table of `cells(row)`."""
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(table(headers, [cells(row) for row in rows]))


def cmd_nodes(args: argparse.Namespace) -> int:
    rows = Client().nodes()
    show(args, rows, NODE_HEADERS, _node_cells)
    for node in [] if args.json else rows:
        n = len(node["links"])
        if n:
            print(f"\nGPU links on {node['name']} (NV = NVLink):")
            links = [[f"GPU{i}", *row] for i, row in enumerate(node["links"])]
            print(table([""] + [f"GPU{i}" for i in range(n)], links))
    return 0


def _node_cells(n: dict[str, Any]) -> list[Any]:
    return [
        n["name"], n["state"], n["gpus"], n["gpus_allocated"], ",".join(n["gpu_models"]),
        n["cpus"], f"{n['memory_mb'] // 1024}G", n["source"], ",".join(n["partitions"]),
    ]  # fmt: skip


def cmd_gpus(args: argparse.Namespace) -> int:
    show(args, Client().gpus(), GPU_HEADERS, _gpu_cells)
    return 0


def _gpu_cells(g: dict[str, Any]) -> list[Any]:
    return [
        g["index"], g["model"], f"{g['memory_mb'] // 1024}G", g["state"], g["job_id"] or "",
        g["job_user"] or "", _pct(g["utilization"]), _mb(g["memory_used_mb"]),
        ",".join(map(str, g["pids"])),
    ]  # fmt: skip


def _pct(value: int | None) -> str:
    return "-" if value is None else f"{value}%"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value}M"


def cmd_share(args: argparse.Namespace) -> int:
    show(args, Client().share(), SHARE_HEADERS, _share_cells)
    return 0


def _share_cells(r: dict[str, Any]) -> list[Any]:
    """One row of the share table. The API sends None for a non-finite float: a null
    FAIRSHARE (an account under Fair Tree) is left blank, a null LEVEL_FS is infinity."""
    fairshare = "" if r["fairshare"] is None else f"{r['fairshare']:.6f}"
    level_fs = "inf" if r["level_fs"] is None else f"{r['level_fs']:.6f}"
    return [
        " " * r["depth"] + r["account"], r["user"] or "", r["raw_shares"],
        f"{r['norm_shares']:.6f}", f"{r['raw_usage']:.0f}", f"{r['norm_usage']:.6f}",
        f"{r['effective_usage']:.6f}", fairshare, level_fs,
    ]  # fmt: skip
