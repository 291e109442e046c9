"""Trace simulator: replay a workload trace through the pure scheduler on a virtual clock.

`read_trace` loads a trace (Philly CSV or native JSONL), `simulate` replays it through
`mlrp.scheduler.decide` on a simulated cluster, `summarize` turns the per-job records into
the figures `mlrp sim` prints.
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
from mlrp.sim.metrics import Summary, jain_index, percentile, summarize
from mlrp.sim.trace import TraceJob, read_trace

__all__ = [
    "POLICIES",
    "Cluster",
    "JobRecord",
    "SimResult",
    "Summary",
    "TraceJob",
    "jain_index",
    "make_policy",
    "parse_cluster",
    "percentile",
    "read_trace",
    "simulate",
    "summarize",
]
