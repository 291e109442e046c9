"""Changes of the queue as they happen, for live views (the web UI's server-sent events).

One `QueueWatch` per app reads the active listing through the backend every `interval`
seconds (less often when a reading is slow: at most SHARE of the daemon's loop goes to
them, which matters with tens of thousands of jobs), but only while someone listens:
the first subscriber starts its task, the last one to leave stops it. Each reading is
compared with the one before: every job that appeared, changed state, reason or hold, or
left the active listing (it ended; its final state is then read from the history, once)
becomes a `JobChange`, and every subscriber gets one `QueueChange` per reading that
found any. A subscriber that falls too far behind
gets `resync` instead of the changes it missed, and should read the whole view again.

Everything runs on the daemon's event loop; a reading is one listing call (the local
backend: one SQLite query; Slurm's: its mirror, refreshed at most once a poll interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrp.errors import MlrpError
from mlrp.services.backend import Backend, Listing

log = logging.getLogger(__name__)

BACKLOG = 64  # changes a subscriber may leave unread before it is told to resync
SHARE = 0.1  # at most this part of the loop's time goes to readings (long queues)
HISTORY_MARGIN = 60.0  # seconds: how far back a vanished job's end is looked for

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JobChange:
    """A job as it is now, because it appeared, changed or ended."""

    id: int
    display_id: str
    state: str
    reason: str
    held: bool
    user: str
    account: str
    name: str

    @classmethod
    def of(cls, row: Row) -> JobChange:
        return cls(
            id=int(row["id"]),
            display_id=str(row.get("display_id", row["id"])),
            state=str(row["state"]),
            reason=str(row.get("reason") or "None"),
            held=bool(row.get("held")),
            user=str(row["user"]),
            account=str(row["account"]),
            name=str(row["name"]),
        )


@dataclass(frozen=True, slots=True)
class QueueChange:
    jobs: tuple[JobChange, ...] = ()
    pending: int = 0
    running: int = 0
    resync: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": [
                {
                    "id": j.id,
                    "display_id": j.display_id,
                    "state": j.state,
                    "reason": j.reason,
                    "held": j.held,
                    "user": j.user,
                    "account": j.account,
                    "name": j.name,
                }
                for j in self.jobs
            ],
            "pending": self.pending,
            "running": self.running,
            "resync": self.resync,
        }


def _key(row: Row) -> tuple[Any, ...]:
    return (row["state"], row.get("reason"), bool(row.get("held")))


def changed_rows(before: Mapping[int, Row], after: Mapping[int, Row]) -> tuple[list[Row], set[int]]:
    """(rows of `after` that are new or differ in state, reason or hold; ids of
    `before` that are gone from `after`)."""
    changed = [
        row
        for job_id, row in after.items()
        if job_id not in before or _key(row) != _key(before[job_id])
    ]
    return changed, set(before) - set(after)


@dataclass
class QueueWatch:
    backend: Backend
    interval: float = 1.0
    clock: Callable[[], float] = time.time
    _subscribers: set[asyncio.Queue[QueueChange]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[QueueChange]]:
        """A queue of changes from the first reading after this call on; it waits for
        that reading, so that a view read after it misses nothing."""
        queue: asyncio.Queue[QueueChange] = asyncio.Queue(maxsize=BACKLOG)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._watch())
        try:
            await self._ready.wait()
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                self._task = None

    @property
    def listening(self) -> int:
        return len(self._subscribers)

    async def _watch(self) -> None:
        previous: dict[int, Row] | None = None
        while True:
            started, cost_from = self.clock(), time.perf_counter()
            try:
                current = await self._active()
                if previous is not None:
                    await self._publish(previous, current, since=started - self.interval)
                previous = current
            except MlrpError as e:  # a backend that cannot answer now: try again later
                log.warning("live updates: cannot read the queue: %s", e)
            except Exception:  # one bad reading must not end live updates for everyone
                log.exception("live updates: reading the queue failed")
            self._ready.set()
            cost = time.perf_counter() - cost_from
            await asyncio.sleep(max(self.interval, cost / SHARE - cost))

    async def _active(self) -> dict[int, Row]:
        rows = json.loads(await self.backend.queue_json(Listing()))
        return {int(row["id"]): row for row in rows}

    async def _publish(self, before: dict[int, Row], after: dict[int, Row], since: float) -> None:
        changed, gone = changed_rows(before, after)
        if gone:
            changed += await self._ended(gone, since)
        if not changed:
            return
        states = [row["state"] for row in after.values()]
        change = QueueChange(
            jobs=tuple(JobChange.of(row) for row in changed),
            pending=states.count("PENDING"),
            running=states.count("RUNNING"),
        )
        for queue in list(self._subscribers):
            _offer(queue, change)

    async def _ended(self, ids: set[int], since: float) -> list[Row]:
        """The final rows of jobs that left the active listing."""
        listing = Listing(ended_since=since - HISTORY_MARGIN)
        rows = json.loads(await self.backend.queue_json(listing))
        return [row for row in rows if int(row["id"]) in ids]


def _offer(queue: asyncio.Queue[QueueChange], change: QueueChange) -> None:
    """Hand `change` over; a subscriber that is too far behind gets only `resync`."""
    try:
        queue.put_nowait(change)
    except asyncio.QueueFull:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(QueueChange(resync=True, pending=change.pending, running=change.running))
