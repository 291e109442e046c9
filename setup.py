"""Build: with MLRP_COMPILE=1 (what `make` sets), the modules every scheduling pass
and every simulated event run through are compiled to C with mypyc from their
type-annotated source; they decide exactly as the Python source does, in 20-40% less
time on the whole-trace replay (benchmarks/trace_replay.py). Without it, or where no C
compiler is at hand, the package is pure Python. Everything else about the package is
in pyproject.toml."""

import os

from setuptools import setup

# the scheduler's hot path: a pass (core) over the machine's GPUs (backfill, placement,
# topology), priorities and fair-share (priority, fairshare, limits), preemption
# (preemption, fair_preemption, relocation), the state kept between passes (state), and the
# simulator's event loop (engine)
COMPILED = [
    "src/mlrp/scheduler/backfill.py",
    "src/mlrp/scheduler/core.py",
    "src/mlrp/scheduler/fair_preemption.py",
    "src/mlrp/scheduler/fairshare.py",
    "src/mlrp/scheduler/limits.py",
    "src/mlrp/scheduler/placement.py",
    "src/mlrp/scheduler/preemption.py",
    "src/mlrp/scheduler/priority.py",
    "src/mlrp/scheduler/relocation.py",
    "src/mlrp/scheduler/state.py",
    "src/mlrp/scheduler/topology.py",
    "src/mlrp/sim/engine.py",
]


def extensions() -> list[object]:
    if os.environ.get("MLRP_COMPILE") != "1":
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3"))


setup(ext_modules=extensions())
