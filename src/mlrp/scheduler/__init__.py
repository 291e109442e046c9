"""The pure scheduler: `decide(snapshot) -> Decisions`.

Imports only `mlrp.models` and the standard library; never reads a clock, a file or a
database. The live daemon and the trace simulator drive the same code.
"""

from mlrp.scheduler.backfill import Machine, Reservation
from mlrp.scheduler.billing import billing_rate
from mlrp.scheduler.core import decide, prioritize
from mlrp.scheduler.decisions import Decisions, PendingInfo, PriorityBreakdown, Start
from mlrp.scheduler.eligibility import (
    DepStatus,
    dependency_reason,
    dependency_status,
    eligibility_reason,
)
from mlrp.scheduler.fair_preemption import SHARE_TOLERANCE, FairShares, entitlements
from mlrp.scheduler.fairshare import ShareRow, decay, fairshare_factors, share_tree
from mlrp.scheduler.limits import LimitCounters, would_exceed
from mlrp.scheduler.placement import choose_gpus, place
from mlrp.scheduler.priority import PriorityContext, priority
from mlrp.scheduler.snapshot import (
    DEPENDENCY_KINDS,
    DepRef,
    GpuSlot,
    QueuedJob,
    RunningJob,
    Snapshot,
    Switch,
)
from mlrp.scheduler.state import ClusterState

__all__ = [
    "DEPENDENCY_KINDS",
    "SHARE_TOLERANCE",
    "ClusterState",
    "Decisions",
    "DepRef",
    "DepStatus",
    "FairShares",
    "GpuSlot",
    "LimitCounters",
    "Machine",
    "PendingInfo",
    "PriorityBreakdown",
    "PriorityContext",
    "QueuedJob",
    "Reservation",
    "RunningJob",
    "ShareRow",
    "Snapshot",
    "Start",
    "Switch",
    "billing_rate",
    "choose_gpus",
    "decay",
    "decide",
    "dependency_reason",
    "dependency_status",
    "eligibility_reason",
    "entitlements",
    "fairshare_factors",
    "place",
    "prioritize",
    "priority",
    "share_tree",
    "would_exceed",
]
