"""Replay a whole trace through `mlrp sim`, at this checkout and at an earlier commit, in
one run: the wall time of each and their ratio (the machines are shared and noisy, so
the ratio is the figure to trust), with the run's figures to show both did the same work.

Both sides read the same policy file (default: the current default policy written out,
without fair-share preemption, which earlier commits lack), through the `mlrp sim`
command of their own code (the earlier commit from a temporary git worktree). Since
1bd9eda the simulator skips passes that cannot decide anything, which no longer defer
the next pass, so the two sides' passes (and hence figures) differ a little: compare
PASSES and JCT_AVG_H. Further rows replay this checkout with today's whole default
policy (fair-share preemption on): what preemption costs the replay. This checkout runs
twice per policy: as `make` installs it (the scheduler compiled with mypyc, setup.py)
and as pure Python (a copy of its source without the compiled modules).

    .venv/bin/python benchmarks/trace_replay.py [TRACE] [--baseline REV] [--cluster 64x8]
        [--repeat N]

On a shared machine one replay's wall time swings by 10-20% from one minute to the
next; with `--repeat N` each side replays N times, the sides interleaved, and the
fastest of each is compared (the run least disturbed by other load).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline_tree import ROOT, baseline_tree

DEFAULT_TRACE = ROOT.parent / "shared/traces/philly.csv"
# the commit before fair-share preemption and the reservation-bound and Fair Tree
# speed-ups (e769b2d: the last one before the simulator kept state between passes)
DEFAULT_BASELINE = "cb3cd18"
POLICY = """[scheduler]
half_life = 86400
reservations = 4
"""
_NO_PREEMPTION = "[scheduler]\nfairshare_preemption = false\n"
# figures that repeated replays of one side must share (the simulator is deterministic)
_DECIDED = ("jobs", "passes", "jct_avg_s", "gpu_utilization", "preemptions", "lost_gpu_s")


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


def pure_copy(src: Path, into: Path) -> Path:
    """A copy of the source tree `src` without its compiled modules."""
    shutil.copytree(src, into, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="an earlier commit")
    parser.add_argument("--cluster", default="64x8")
    parser.add_argument("--config", type=Path, help="policy file (default: today's defaults)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="replays per side, interleaved (default 1)"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
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
        compiled = any((ROOT / "src").rglob("*.so"))
        pure = pure_copy(ROOT / "src", Path(tmp) / "pure")
        with baseline_tree(args.baseline) as tree:
            sides = [(args.baseline, tree / "src", config), ("this, pure", pure, mine)]
            if compiled:
                sides.append(("this, compiled", ROOT / "src", mine))
            sides.append(("+ preemption, pure", pure, full))
            if compiled:
                sides.append(("+ preemption, compiled", ROOT / "src", full))
            walls: dict[str, list[float]] = {}
            figures: dict[str, dict[str, Any]] = {}
            for _ in range(args.repeat):  # interleaved: a slow spell hits every side
                for at, (name, src, policy) in enumerate(sides):
                    wall, run = replay(src, args.trace, args.cluster, policy)
                    walls.setdefault(f"{at}", []).append(wall)
                    decided = {key: run.get(key) for key in _DECIDED}
                    kept = figures.setdefault(f"{at}", run)
                    if {key: kept.get(key) for key in _DECIDED} != decided:
                        raise SystemExit(f"{name}: two replays decided differently")
            rows = [
                (name, min(walls[f"{at}"]), max(walls[f"{at}"]), figures[f"{at}"])
                for at, (name, _, _) in enumerate(sides)
            ]
    print(f"{args.trace.name} on {args.cluster}, policy {config if args.config else 'defaults'}")
    print(f"{'CODE':<24}{'WALL_S':>8}{'SLOWEST':>8}{'JOBS':>8}{'PASSES':>8}{'JCT_AVG_H':>11}"
          f"{'UTIL':>8}{'PREEMPT':>9}")  # fmt: skip
    for name, wall, slowest, o in rows:
        print(f"{name:<24}{wall:>8.1f}{slowest:>8.1f}{o['jobs']:>8}{o['passes']:>8}"
              f"{o['jct_avg_s'] / 3600:>11.2f}{o['gpu_utilization']:>8.1%}"
              f"{o.get('preemptions', 0):>9}")  # fmt: skip
    if args.repeat > 1:
        print(f"WALL_S: the fastest of {args.repeat} interleaved replays; SLOWEST: the slowest")
    print("pure: this checkout's source as Python; compiled: as `make` installs it")
    if not compiled:
        print("(no compiled modules in this checkout: run `make test` or `make bench` first)")
    base = rows[0][1]
    print(
        "speed-up over "
        + args.baseline
        + ": "
        + ", ".join(f"{name} {base / wall:.2f}x" for name, wall, _, _ in rows[1:])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
