"""The machine's GPUs over time, for one pass: which are free now, when the busy ones
are expected to free up, and the reservations ("shadow" plans) of blocked jobs.

A running job is expected to end at start_time + time_limit (never before now); a job
started in this pass at now + time_limit; a GPU a slot says is held by a job the pass
does not know never frees up. A reservation holds its GPUs from its start until its
start + the job's time limit.

EASY backfill: a job may start now on GPUs free now unless that could delay a
reservation, i.e. unless it would still run at the reservation's start on one of the
reservation's GPUs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mlrp.scheduler.placement import choose_gpus
from mlrp.scheduler.snapshot import GpuSlot, RunningJob


@dataclass(frozen=True, slots=True)
class Reservation:
    job_id: int
    start: float
    end: float
    gpus: tuple[int, ...]


class Machine:
    """The GPUs of one pass; mutated as the pass starts jobs and makes reservations."""

    __slots__ = (
        "_busy_until",
        "_by_model",
        "_capacity",
        "_free",
        "_free_count",
        "_freeable",
        "_groups",
        "_indices",
        "_model",
        "_reserved",
        "now",
        "reservations",
    )

    def __init__(
        self,
        now: float,
        slots: Sequence[GpuSlot],
        running: Sequence[RunningJob] = (),
        link_groups: Sequence[Sequence[int]] = (),
    ) -> None:
        self.now = now
        self._model = {s.index: s.model.lower() for s in slots}
        self._indices = sorted(self._model)
        self._by_model: dict[str, list[int]] = {}
        for index in self._indices:
            self._by_model.setdefault(self._model[index], []).append(index)
        self._capacity = Counter(self._model.values())
        busy: dict[int, float] = {}
        for job in running:
            end = max(job.start_time + job.time_limit, now)
            for g in job.gpus:
                if g in self._model:
                    busy[g] = max(busy.get(g, end), end)
        for slot in slots:
            if slot.job_id is not None and slot.index not in busy:
                busy[slot.index] = math.inf
        self._busy_until = busy  # only GPUs busy now
        # GPUs of each model that will be free at some time (not held forever)
        self._freeable = Counter(
            self._model[g] for g in self._indices if busy.get(g, now) < math.inf
        )
        self._free = {g for g in self._indices if g not in busy}
        self._free_count = Counter(self._model[g] for g in self._free)
        groups = (frozenset(g for g in group if g in self._model) for group in link_groups)
        self._groups = tuple(g for g in groups if g)
        self.reservations: list[Reservation] = []
        self._reserved: dict[int, list[tuple[float, float]]] = {}

    # --- what there is -----------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self._indices)

    def capacity(self, gpu_type: str | None) -> int:
        """GPUs of the machine of that model (all GPUs for None)."""
        if gpu_type is None:
            return len(self._indices)
        return self._capacity.get(gpu_type, 0)

    def free_count(self, gpu_type: str | None) -> int:
        """GPUs free now of that model (all models for None), reservations aside."""
        if gpu_type is None:
            return len(self._free)
        return self._free_count.get(gpu_type, 0)

    def _pool(self, gpu_type: str | None) -> list[int]:
        if gpu_type is None:
            return self._indices
        return self._by_model.get(gpu_type, [])

    # --- now ---------------------------------------------------------------------------

    def try_place(self, n: int, gpu_type: str | None, end: float) -> tuple[int, ...] | None:
        """GPUs for a job starting now and ending at `end`, delaying no reservation."""
        if n <= 0:
            return ()
        if self.free_count(gpu_type) < n:
            return None
        forbidden: set[int] = set()
        for r in self.reservations:
            if end > r.start:
                forbidden.update(r.gpus)
        free = self._free
        candidates = [g for g in self._pool(gpu_type) if g in free and g not in forbidden]
        return choose_gpus(n, candidates, self._groups)

    def start(self, gpus: Sequence[int], end: float) -> None:
        for g in gpus:
            self._free.remove(g)
            self._free_count[self._model[g]] -= 1
            self._busy_until[g] = end

    # --- later -------------------------------------------------------------------------

    def _conflicts(self, gpu: int, start: float, end: float) -> bool:
        return any(s < end and start < e for s, e in self._reserved.get(gpu, ()))

    def reserve(
        self, job_id: int, n: int, gpu_type: str | None, duration: float
    ) -> Reservation | None:
        """The earliest start at which `n` GPUs of `gpu_type` will be free for `duration`
        seconds, given the expected ends and the reservations already made, and which
        GPUs; the reservation is recorded. None if there is no such time."""
        pool = self._pool(gpu_type)
        freeable = sum(self._freeable.values()) if gpu_type is None else self._freeable[gpu_type]
        if n <= 0 or freeable < n:
            return None  # also: there is then always a time, after every known end
        now = self.now
        release = sorted((self._busy_until.get(g, now), g) for g in pool)
        times = {t for t, _ in release if t < math.inf}
        for spans in self._reserved.values():
            times.update(e for _, e in spans)
        released: list[int] = []
        k = 0
        for t in sorted(t for t in times if t >= now):
            while k < len(release) and release[k][0] <= t:
                released.append(release[k][1])
                k += 1
            if len(released) < n:
                continue
            end = t + duration
            usable = sorted(g for g in released if not self._conflicts(g, t, end))
            chosen = choose_gpus(n, usable, self._groups)
            if chosen is not None:
                reservation = Reservation(job_id, t, end, chosen)
                self.reservations.append(reservation)
                for g in chosen:
                    self._reserved.setdefault(g, []).append((t, end))
                return reservation
        return None
