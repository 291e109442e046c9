"""Server-sent event streams: the queue's changes, and a job's log as it grows.

    event: hello   the stream is open (a view read after it misses no change)
    event: jobs    a QueueChange (mlrp.services.events), as JSON
    event: log     {"text": ..., "offset": N}: the log's next bytes, decoded as UTF-8;
                   the event id is the offset, so a reconnecting browser resumes there
    event: end     {"state": ...}: the job ended and its log is read to the end
    event: error   {"message": ...}: the stream stops (e.g. the job was purged)

Each generator waits on the daemon's loop (the watch's queue, or asyncio.sleep between
reads of the log) and never blocks it; a comment line every HEARTBEAT seconds keeps
proxies from closing an idle stream. A generator ends when the browser goes away: the
response is cancelled, and its `finally` blocks let go of what it held.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from mlrp.errors import MlrpError
from mlrp.services.backend import Backend, LogChunk
from mlrp.services.events import QueueWatch
from mlrp.services.identity import Caller

HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
LOG_INTERVAL = 0.5  # seconds between reads of a log that has not grown
RETRY_MS = 3000  # how soon a browser reconnects a dropped stream
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
MEDIA_TYPE = "text/event-stream"


def event(name: str, data: Any, *, event_id: str | None = None) -> str:
    """One event in the text/event-stream format (its data as one line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def opening() -> str:
    return f"retry: {RETRY_MS}\n" + event("hello", {})


async def queue_events(watch: QueueWatch) -> AsyncIterator[str]:
    """The queue's changes, for as long as the browser listens."""
    async with watch.subscribe() as changes:
        yield opening()
        while True:
            try:
                change = await asyncio.wait_for(changes.get(), timeout=HEARTBEAT)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield event("jobs", change.to_json())


async def log_events(
    backend: Backend, caller: Caller, job_id: int, *, stream: str, first: LogChunk
) -> AsyncIterator[str]:
    """The log of a job, from the read `first` on, until the job ends. `first` is made
    before the response starts, so that a refusal is an HTTP error (403, 404), not an
    event."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunk, quiet = first, 0.0
    yield opening()
    while True:
        if chunk.data:
            text = decoder.decode(chunk.data)
            yield event("log", {"text": text, "offset": chunk.offset}, event_id=str(chunk.offset))
            quiet = 0.0
        elif chunk.state.is_terminal:
            yield event("end", {"state": chunk.state.value})
            return
        else:
            await asyncio.sleep(LOG_INTERVAL)
            quiet += LOG_INTERVAL
            if quiet >= HEARTBEAT:
                yield ": keep-alive\n\n"
                quiet = 0.0
        try:
            chunk = await backend.read_log(caller, job_id, stream=stream, offset=chunk.offset)
        except MlrpError as e:
            yield event("error", {"message": e.message})
            return


def resume_offset(last_event_id: str | None, offset: int) -> int:
    """Where a stream resumes: the Last-Event-ID a reconnecting browser sends, else the
    offset asked for."""
    if last_event_id:
        with contextlib.suppress(ValueError):
            return max(int(last_event_id), 0)
    return offset
