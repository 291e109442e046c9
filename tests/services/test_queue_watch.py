"""The queue watch behind the web UI's live updates (mlrp.services.events): changes are
found by comparing readings of the backend's listing, and handed to every subscriber."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mlrp.services.backend import Listing
from mlrp.services.events import QueueChange, QueueWatch, _offer, changed_rows

WAIT = 10.0  # seconds: a generous bound for a reading every 10 ms


def row(job_id: int, state: str, reason: str = "None", held: bool = False) -> dict[str, Any]:
    return {"id": job_id, "display_id": str(job_id), "state": state, "reason": reason,
            "held": held, "user": "alice", "account": "vision", "name": f"job{job_id}"}  # fmt: skip


class ListingBackend:
    """Only what the watch reads: the active listing, and the history since a time."""

    def __init__(self, active: list[dict[str, Any]]) -> None:
        self.active = active
        self.ended: list[dict[str, Any]] = []
        self.reads = 0

    async def queue_json(self, listing: Listing) -> str:
        self.reads += 1
        if listing.ended_since is not None:
            return json.dumps(self.ended + self.active)
        return json.dumps(self.active)


def test_changed_rows_finds_new_changed_and_gone_jobs() -> None:
    before = {1: row(1, "PENDING"), 2: row(2, "PENDING"), 3: row(3, "RUNNING")}
    after = {1: row(1, "PENDING"), 2: row(2, "PENDING", held=True), 4: row(4, "PENDING")}
    changed, gone = changed_rows(before, after)
    assert [r["id"] for r in changed] == [2, 4]
    assert gone == {3}


def test_subscribers_get_state_changes_and_final_states() -> None:
    async def scenario() -> list[QueueChange]:
        backend = ListingBackend([row(1, "PENDING", "Resources")])
        watch = QueueWatch(backend, interval=0.01)  # type: ignore[arg-type]
        seen = []
        async with watch.subscribe() as changes:
            backend.active = [row(1, "RUNNING"), row(2, "PENDING", "Priority")]
            seen.append(await asyncio.wait_for(changes.get(), WAIT))
            backend.active, backend.ended = [row(2, "PENDING", "Priority")], [row(1, "COMPLETED")]
            seen.append(await asyncio.wait_for(changes.get(), WAIT))
        assert watch.listening == 0
        return seen

    started, ended = asyncio.run(scenario())
    assert {(j.id, j.state) for j in started.jobs} == {(1, "RUNNING"), (2, "PENDING")}
    assert (started.running, started.pending) == (1, 1)
    assert [(j.id, j.state) for j in ended.jobs] == [(1, "COMPLETED")]
    assert (ended.running, ended.pending) == (0, 1)


def test_nothing_is_read_while_nobody_listens() -> None:
    async def scenario() -> tuple[int, int]:
        backend = ListingBackend([row(1, "PENDING")])
        watch = QueueWatch(backend, interval=0.01)  # type: ignore[arg-type]
        async with watch.subscribe():
            await asyncio.sleep(0.05)
        after_leaving = backend.reads
        await asyncio.sleep(0.1)
        return after_leaving, backend.reads

    after_leaving, later = asyncio.run(scenario())
    assert after_leaving >= 1
    assert later == after_leaving


def test_a_subscriber_that_falls_behind_is_told_to_resync() -> None:
    async def scenario() -> list[QueueChange]:
        queue: asyncio.Queue[QueueChange] = asyncio.Queue(maxsize=2)
        for _ in range(3):
            _offer(queue, QueueChange(pending=1))
        return [queue.get_nowait() for _ in range(queue.qsize())]

    (only,) = asyncio.run(scenario())
    assert only.resync and only.pending == 1
