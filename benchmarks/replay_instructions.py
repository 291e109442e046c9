"""Count the instructions of one `mlrp sim` replay, at this checkout and at an earlier
commit, side by side: a figure that holds still where wall time does not (a replay's
wall time swings by 10-20% from one minute to the next on a shared machine, so a
change of a few percent cannot be told from it).

Both sides replay the first N jobs of the trace (default 30,000) on 64 x 8 GPUs with the
default policy under valgrind's cachegrind without cache simulation, with a fixed hash
seed, at the same time (one per core); each also replays a 50-job slice, whose count is
the start-up (imports, parsing) to subtract. Both must decide the same where the
baseline already had today's rules: the figures of both replays are printed.

    .venv/bin/python benchmarks/replay_instructions.py [TRACE] [--jobs N] [--baseline REV]

Needs valgrind (Debian: `apt-get install valgrind`); a replay takes about 30 times as
long as without it (about 3 minutes for 15,000 jobs, 6 for 30,000).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from baseline_tree import ROOT, baseline_tree

DEFAULT_TRACE = ROOT.parent / "shared/traces/philly.csv"
DEFAULT_BASELINE = "7839df6"  # the end of the previous round of work on the replay
POLICY = "[scheduler]\nhalf_life = 86400\nreservations = 4\n"
START_UP_JOBS = 50
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def count(src: Path, trace: Path, config: Path) -> tuple[int, dict[str, Any]]:
    """Instructions of `mlrp sim` run from the code under `src`, and its figures."""
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
    valgrind.append("--cachegrind-out-file=/dev/null")
    sim = ["-m", "mlrp.cli.main", "sim", str(trace), "--cluster", "64x8", "--config", str(config)]
    command = [*valgrind, sys.executable, *sim, "--json"]
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"mlrp sim under valgrind failed ({src}):\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)["overall"]
    figures.pop("wall_s", None)
    return int(found.group(1).replace(",", "")), figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--jobs", type=int, default=30_000, help="replay the first N jobs")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="an earlier commit")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if not args.trace.exists():
        print(f"no trace at {args.trace}", file=sys.stderr)
        return 2
    if args.jobs < START_UP_JOBS:
        print(f"--jobs must be at least {START_UP_JOBS}", file=sys.stderr)
        return 2
    lines = args.trace.read_text().splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        config, head, start_up = Path(tmp, "policy.toml"), Path(tmp, "head.csv"), Path(tmp, "s.csv")
        config.write_text(POLICY)
        head.write_text("".join(lines[: args.jobs + 1]))
        start_up.write_text("".join(lines[: START_UP_JOBS + 1]))
        with baseline_tree(args.baseline) as tree:
            sides = {args.baseline: tree / "src", "this checkout": ROOT / "src"}
            for src in sides.values():  # bytecode first: compiling is not the replay's work
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
            with ThreadPoolExecutor(max_workers=2) as pool:
                runs = {
                    (name, trace): pool.submit(count, src, trace, config)
                    for trace in (head, start_up)
                    for name, src in sides.items()
                }
                results = {key: run.result() for key, run in runs.items()}
    print(f"first {args.jobs} jobs of {args.trace.name} on 64x8, default policy")
    print(f"{'CODE':<16}{'INSTRUCTIONS':>16}{'START_UP':>16}{'REPLAY':>16}{'PASSES':>8}"
          f"{'JCT_AVG_H':>11}{'PREEMPT':>9}")  # fmt: skip
    replay: dict[str, int] = {}
    for name in sides:
        total, figures = results[(name, head)]
        base, _ = results[(name, start_up)]
        replay[name] = total - base
        jct_h = figures["jct_avg_s"] / 3600
        print(f"{name:<16}{total:>16,}{base:>16,}{replay[name]:>16,}{figures['passes']:>8}"
              f"{jct_h:>11.2f}{figures.get('preemptions', 0):>9}")  # fmt: skip
    before, after = replay[args.baseline], replay["this checkout"]
    print(
        f"REPLAY: instructions less the {START_UP_JOBS}-job start-up; "
        f"this checkout / {args.baseline}: {after / before:.3f} ({after / before - 1:+.1%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
