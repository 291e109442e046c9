"""The live-update streams (server-sent events, see mlrp.web.sse), under the API prefix:

    GET /api/v1/events                          the queue's changes
    GET /api/v1/jobs/{id}/logs/stream           a job's log as it grows (?stream=out|err,
                                                ?offset=N; Last-Event-ID resumes)

Both need the same credentials as any API request; a log stream, the same right to the
job's logs as GET /api/v1/jobs/{id}/logs (its owner, a coordinator of its account, an
admin). They are left out of the OpenAPI description: a stream has no end to describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import StreamingResponse

from mlrp.web import sse
from mlrp.web.deps import BackendDep, CallerDep, WatchDep

MAX_ID = 2**63 - 1
router = APIRouter(prefix="/api/v1", include_in_schema=False)


def _streaming(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type=sse.MEDIA_TYPE, headers=sse.HEADERS)


@router.get("/events")
async def queue_events(_: CallerDep, watch: WatchDep) -> StreamingResponse:
    return _streaming(sse.queue_events(watch))


@router.get("/jobs/{job_id}/logs/stream")
async def log_stream(
    backend: BackendDep,
    caller: CallerDep,
    job_id: Annotated[int, Path(ge=0, le=MAX_ID)],
    stream: Annotated[str, Query(pattern="^(out|err)$")] = "out",
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    start = sse.resume_offset(last_event_id, offset)
    first = await backend.read_log(caller, job_id, stream=stream, offset=start)
    return _streaming(sse.log_events(backend, caller, job_id, stream=stream, first=first))
