"""What a pass otherwise rebuilds from its snapshot, kept between passes by a caller
that applies every change itself (the trace simulator).

A pass groups the pending jobs into classes (core.py), works out which GPUs are busy
until when (backfill.Machine) and, to look for preemption victims, which running jobs
sit on which node (preemption.RunningIndex): all cost time in proportion to the queue
and the cluster, on every pass. A `ClusterState` is told of each change instead (a job
queued or unqueued, started or stopped), so that a pass only copies it:
`decide(snapshot, state)` decides exactly as `decide(snapshot)` as long as the state
holds the snapshot's pending and running jobs. The live daemon builds its snapshot from
the database each pass and does not keep one.
"""

from __future__ import annotations

import bisect
import operator
from collections import Counter
from collections.abc import KeysView, Sequence

from mlrp.scheduler.backfill import Machine
from mlrp.scheduler.limits import RunningTotals
from mlrp.scheduler.preemption import RunningIndex
from mlrp.scheduler.snapshot import GpuSlot, QueuedJob, RunningJob, Switch

_submit_order = operator.attrgetter("submit_time", "id")


class ClusterState:
    """The pending jobs grouped by class (each class in submit order), the GPUs' busy
    state and the running jobs, for one cluster (the `gpus`, `link_groups` and `switches` every
    snapshot passed with it must have; a slot's `job_id` marks a GPU held by a job
    the state is not told of, which never frees up)."""

    def __init__(
        self,
        gpus: Sequence[GpuSlot],
        link_groups: Sequence[Sequence[int]] = (),
        switches: Sequence[Switch] = (),
    ) -> None:
        self._machine = Machine(0.0, gpus, (), link_groups, switches)
        self.running = RunningIndex()
        self.totals = RunningTotals()  # what the limits count of the running jobs
        # (account, user) -> its pending and running jobs
        self._owners: Counter[tuple[str, str]] = Counter()
        # class key -> its jobs in submit order, and their (submit time, id) alongside
        self._classes: dict[object, tuple[list[QueuedJob], list[tuple[float, int]]]] = {}
        # the classes whose job lists a pass holds (see classes): copied before a change
        self._lent: set[object] = set()

    def queue(self, job: QueuedJob) -> None:
        """`job` is now pending."""
        key = job.id if job.class_key is None else job.class_key
        self._own(job, 1)
        jobs, order = self._own_class(key)
        place = _submit_order(job)
        if not order or order[-1] < place:
            jobs.append(job)
            order.append(place)
        else:  # out of order (a preempted job queued again): in its place
            at = bisect.bisect_left(order, place)
            jobs.insert(at, job)
            order.insert(at, place)

    def unqueue(self, job: QueuedJob) -> None:
        """`job` is no longer pending (it started, or left the queue)."""
        key = job.id if job.class_key is None else job.class_key
        if key not in self._classes:
            raise KeyError(job.id)  # not queued
        jobs, order = self._own_class(key)
        place = _submit_order(job)
        at = bisect.bisect_left(order, place)
        if at == len(order) or order[at] != place:
            raise KeyError(job.id)  # not queued
        del jobs[at], order[at]
        self._own(job, -1)
        if not jobs:
            del self._classes[key]
            self._lent.discard(key)

    def _own_class(self, key: object) -> tuple[list[QueuedJob], list[tuple[float, int]]]:
        """The class of `key` (a new one when it has none), its job list copied first if
        a pass holds it (copy on write)."""
        entry = self._classes.get(key)
        if entry is None:
            entry = self._classes[key] = ([], [])
        elif key in self._lent:
            self._lent.discard(key)
            entry = self._classes[key] = (entry[0].copy(), entry[1])
        return entry

    def start(self, job: RunningJob) -> None:
        """`job` now runs, on GPUs free until now, expected to end at its start + time
        limit."""
        self._machine.start(job.gpus, job.start_time + job.time_limit)
        self.running.add(job, self._machine)
        self.totals.add(job, 1)
        self._own(job, 1)

    def stop(self, job: RunningJob) -> None:
        """`job` (started with `start`) ended or was stopped."""
        self._machine.release(job.gpus)
        self.running.remove(job, self._machine)
        self.totals.add(job, -1)
        self._own(job, -1)

    def _own(self, job: QueuedJob | RunningJob, change: int) -> None:
        owner = (job.account, job.user)
        self._owners[owner] += change
        if not self._owners[owner]:
            del self._owners[owner]

    def owners(self) -> KeysView[tuple[str, str]]:
        """The (account, user) of every pending and running job."""
        return self._owners.keys()

    def most_free_on_a_node(self) -> int:
        """The most GPUs free now on one node."""
        return self._machine.most_free_on_a_node(None)

    def classes(self) -> list[list[QueuedJob]]:
        """The classes as a pass needs them, each in submit order. A pass may outlive
        later changes: a class is copied when it next changes (not on every pass)."""
        self._lent = set(self._classes)
        return [jobs for jobs, _ in self._classes.values()]

    def machine(self, now: float) -> Machine:
        """The GPUs as a pass at `now` sees them, before it starts anything."""
        return self._machine.copy(now)
