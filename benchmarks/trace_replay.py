"""Replay a whole trace through `mlrp sim`, at this checkout and at an earlier commit, in
one run: the wall time of each and their ratio (the machines are shared and noisy, so
the ratio is the figure to trust), with the run's figures to show both did the same work.

Both sides read the same policy file (default: the current default policy written out,
so that an older default does not change the work), through the `mlrp sim` command of
their own code (the earlier commit from a temporary git worktree).

    .venv/bin/python benchmarks/trace_replay.py [TRACE] [--baseline REV] [--cluster 64x8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACE = ROOT.parent / "shared/traces/philly.csv"
DEFAULT_BASELINE = "e769b2d"  # the last commit before the simulator kept state between passes
POLICY = """[scheduler]
half_life = 86400
reservations = 4
"""


def replay(src: Path, trace: Path, cluster: str, config: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of `mlrp sim` run from the code under `src`, and its JSON figures."""
    command = [sys.executable, "-m", "mlrp.cli.main", "sim", str(trace), "--cluster", cluster,
               "--config", str(config), "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"mlrp sim failed under {src}:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout)["overall"]
    return wall, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="an earlier commit")
    parser.add_argument("--cluster", default="64x8")
    parser.add_argument("--config", type=Path, help="policy file (default: today's defaults)")
    args = parser.parse_args()
    if not args.trace.exists():
        print(f"no trace at {args.trace}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        config = args.config or Path(tmp) / "policy.toml"
        if args.config is None:
            config.write_text(POLICY)
        worktree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(worktree), args.baseline], check=True)  # fmt: skip
        try:
            rows = [
                (args.baseline, *replay(worktree / "src", args.trace, args.cluster, config)),
                ("this checkout", *replay(ROOT / "src", args.trace, args.cluster, config)),
            ]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(worktree)], check=False)  # fmt: skip
    print(f"{args.trace.name} on {args.cluster}, policy {config if args.config else 'defaults'}")
    print(f"{'CODE':<16}{'WALL_S':>8}{'JOBS':>8}{'JCT_AVG_H':>11}{'UTIL':>8}")
    for name, wall, o in rows:
        print(f"{name:<16}{wall:>8.1f}{o['jobs']:>8}{o['jct_avg_s'] / 3600:>11.2f}"
              f"{o['gpu_utilization']:>8.1%}")  # fmt: skip
    (_, base, _), (_, now, _) = rows
    print(f"speed-up: {base / now:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
