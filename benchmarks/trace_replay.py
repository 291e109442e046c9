"""Replay a whole trace through `mlrp sim`, at this checkout and at an earlier commit, in
one run: the wall time of each and their ratio (the machines are shared and noisy, so
the ratio is the figure to trust), with the run's figures to show both did the same work.

Both sides read the same policy file (default: the current default policy written out,
without fair-share preemption, which earlier commits lack), through the `mlrp sim`
command of their own code (the earlier commit from a temporary git worktree). Since
1bd9eda the simulator skips passes that cannot decide anything, which no longer defer
the next pass, so the two sides' passes (and hence figures) differ a little: compare
PASSES and JCT_AVG_H. A third row replays this checkout with today's whole default
policy (fair-share preemption on): what preemption costs the replay.

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
# the commit before fair-share preemption and the reservation-bound and Fair Tree
# speed-ups (e769b2d: the last one before the simulator kept state between passes)
DEFAULT_BASELINE = "cb3cd18"
POLICY = """[scheduler]
half_life = 86400
reservations = 4
"""
_NO_PREEMPTION = "[scheduler]\nfairshare_preemption = false\n"


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
        text = config.read_text()
        mine = Path(tmp) / "mine.toml"  # the same work, as this checkout reads it
        mine.write_text(
            text.replace("[scheduler]\n", _NO_PREEMPTION, 1)
            if "[scheduler]\n" in text
            else _NO_PREEMPTION + text
        )
        full = config
        worktree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(worktree), args.baseline], check=True)  # fmt: skip
        try:
            rows = [
                (args.baseline, *replay(worktree / "src", args.trace, args.cluster, config)),
                ("this checkout", *replay(ROOT / "src", args.trace, args.cluster, mine)),
                ("+ preemption", *replay(ROOT / "src", args.trace, args.cluster, full)),
            ]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(worktree)], check=False)  # fmt: skip
    print(f"{args.trace.name} on {args.cluster}, policy {config if args.config else 'defaults'}")
    print(f"{'CODE':<16}{'WALL_S':>8}{'JOBS':>8}{'PASSES':>8}{'JCT_AVG_H':>11}{'UTIL':>8}"
          f"{'PREEMPT':>9}")  # fmt: skip
    for name, wall, o in rows:
        print(f"{name:<16}{wall:>8.1f}{o['jobs']:>8}{o['passes']:>8}"
              f"{o['jct_avg_s'] / 3600:>11.2f}{o['gpu_utilization']:>8.1%}"
              f"{o.get('preemptions', 0):>9}")  # fmt: skip
    (_, base, _), (_, now, _), (_, full_wall, _) = rows
    print(
        f"speed-up, same policy: {base / now:.2f}x; "
        f"with fair-share preemption: {base / full_wall:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
