"""Trace simulator: replay a workload trace through the pure scheduler on a virtual clock.

`load_trace` / `read_trace` load a trace (Philly CSV, native JSONL, or Slurm history from
`sacct --json` / `sacct --parsable2`), `simulate` replays it through
`mlrp.scheduler.decide` on a simulated cluster, `summarize` turns the result into the
figures `mlrp sim` prints; `mlrp.sim.plot` (matplotlib, imported on demand) draws them.
"""

from mlrp.sim.engine import (
    POLICIES,
    Cluster,
    JobRecord,
    SimResult,
    make_policy,
    parse_cluster,
    simulate,
)
from mlrp.sim.metrics import (
    ShareWindow,
    Summary,
    allocation_steps,
    jain_index,
    percentile,
    share_windows,
    summarize,
)
from mlrp.sim.trace import FORMATS, Trace, TraceJob, detect_format, load_trace, read_trace

__all__ = [
    "FORMATS",
    "POLICIES",
    "Cluster",
    "JobRecord",
    "ShareWindow",
    "SimResult",
    "Summary",
    "Trace",
    "TraceJob",
    "allocation_steps",
    "detect_format",
    "jain_index",
    "load_trace",
    "make_policy",
    "parse_cluster",
    "percentile",
    "read_trace",
    "share_windows",
    "simulate",
    "summarize",
]
