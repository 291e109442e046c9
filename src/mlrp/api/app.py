"""The FastAPI application: every operation the CLI offers, under /api/v1.

Errors share one JSON shape, `{"error": {"code": ..., "message": ...}}`, with the
status of the MlrpError subclass (see mlrp.errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from mlrp import __version__
from mlrp.api.peercred import PEER_KEY
from mlrp.api.schemas import (
    Affected,
    BatchSubmit,
    BatchSubmitted,
    ErrorResponse,
    Identity,
    JobList,
    SbatchRequest,
    Selection,
    Submitted,
)
from mlrp.errors import MlrpError, PermissionDenied
from mlrp.models.jobs import JobSpec
from mlrp.models.states import JobState
from mlrp.services import control, explain, queries, submission
from mlrp.services.context import Platform
from mlrp.services.identity import Caller, caller_from_uid


def create_app(
    platform: Platform,
    *,
    on_stop: Callable[[], None] = lambda: None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="mlrp",
        version=__version__,
        description="Queue, fair-share and run GPU jobs on a lab's machines.",
        responses={400: {"model": ErrorResponse}},
    )
    app.state.platform = platform
    app.state.on_stop = on_stop
    app.add_exception_handler(MlrpError, _mlrp_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.include_router(router)
    return app


async def _mlrp_error(_: Request, error: MlrpError) -> JSONResponse:
    return _error(error.status, error.code, error.message)


async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"] if p not in ("body",)) or "body"
        problems.append(f"{where}: {item['msg']}")
    return _error(422, "invalid_spec", "; ".join(problems))


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_caller(request: Request) -> Caller:
    platform = get_platform(request)
    peer = request.scope.get(PEER_KEY)
    if peer is None:
        raise PermissionDenied("this endpoint needs a caller identity (use the Unix socket)")
    _, uid, gid = peer
    if not platform.multi_user and uid not in (0, os.geteuid()):
        # The socket's mode already keeps others out; this holds even if it is loosened.
        raise PermissionDenied("this is a personal mlrp daemon; it serves only its own user")
    return caller_from_uid(uid, gid, platform.config.daemon.admins)


PlatformDep = Annotated[Platform, Depends(get_platform)]
CallerDep = Annotated[Caller, Depends(get_caller)]

router = APIRouter(prefix="/api/v1")


@router.get("/whoami")
async def whoami(platform: PlatformDep, caller: CallerDep) -> Identity:
    return Identity(
        user=caller.user,
        uid=caller.uid,
        is_admin=caller.is_admin,
        multi_user=platform.multi_user,
    )


@router.post("/jobs", status_code=201)
async def submit_job(platform: PlatformDep, caller: CallerDep, spec: JobSpec) -> Submitted:
    receipt = submission.submit(platform, caller, spec)
    return Submitted(ids=receipt.ids, display_ids=receipt.display_ids)


@router.post("/jobs/sbatch", status_code=201)
async def submit_sbatch(
    platform: PlatformDep, caller: CallerDep, request: SbatchRequest
) -> Submitted:
    """`mlrp submit` / `mlrp run` as typed: sbatch options, #SBATCH lines and task YAML
    are parsed here, so that the CLI loads no parser."""
    receipt = submission.submit_request(platform, caller, **request.model_dump())
    return Submitted(ids=receipt.ids, display_ids=receipt.display_ids)


@router.post("/jobs/batch", status_code=201, response_model=BatchSubmitted)
async def submit_batch(platform: PlatformDep, caller: CallerDep, batch: BatchSubmit) -> Response:
    """The reply is written as JSON directly: a model per receipt would cost more than
    the rest of a large batch's answer."""
    receipts = submission.submit_many(platform, caller, batch.specs, env=batch.env)
    jobs = [{"ids": r.ids, "display_ids": r.display_ids} for r in receipts]
    return Response(json.dumps({"jobs": jobs}), status_code=201, media_type="application/json")


@router.get("/jobs", response_model=JobList)
async def list_jobs(
    platform: PlatformDep,
    _: CallerDep,
    state: Annotated[list[JobState] | None, Query()] = None,
    user: str | None = None,
    account: str | None = None,
    name: str | None = None,
    since: float | None = None,
    output: Annotated[Literal["json", "table"], Query(alias="format")] = "json",
    start: bool = False,
    tz: str | None = None,
) -> Response:
    """Listing rows as the store builds them (JSON from SQLite): a per-row model would
    cost more than the query for a long queue. `format=table`: the text of `mlrp queue`
    (`start=true`: of `mlrp queue --start`; `tz`: the caller's TZ, "" when unset)."""
    if output == "table":
        text = queries.queue_table(
            platform, states=state, user=user, account=account, name=name, start=start, tz=tz
        )
        return Response(text, media_type="text/plain; charset=utf-8")
    rows = queries.queue_json(
        platform, states=state, user=user, account=account, name=name, ended_since=since
    )
    return Response(f'{{"jobs": {rows}}}', media_type="application/json")


@router.get("/jobs/{job_id}")
async def show_job(platform: PlatformDep, caller: CallerDep, job_id: int) -> dict[str, Any]:
    return queries.job_detail(platform, caller, job_id)


@router.get("/jobs/{job_id}/explain")
async def explain_job(
    platform: PlatformDep, _: CallerDep, job_id: int, vs: int | None = None
) -> dict[str, Any]:
    """Why the job waits (or ran), factor by factor; with `vs`, against that job."""
    return explain.explain(platform, job_id, versus=vs)


@router.get("/jobs/{job_id}/logs")
async def job_logs(
    platform: PlatformDep,
    caller: CallerDep,
    job_id: int,
    stream: Annotated[str, Query(pattern="^(out|err)$")] = "out",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Raw bytes from `offset`; headers give the next offset and the job's state, so a
    follower knows when to stop."""
    data, next_offset = queries.read_log(platform, caller, job_id, stream=stream, offset=offset)
    state = queries.get_job(platform, job_id).state
    headers = {"X-Mlrp-Offset": str(next_offset), "X-Mlrp-State": state.value}
    return Response(content=data, media_type="application/octet-stream", headers=headers)


@router.post("/jobs/cancel")
async def cancel_jobs(platform: PlatformDep, caller: CallerDep, selection: Selection) -> Affected:
    jobs = _select(platform, selection)
    return Affected(jobs=[j.display_id for j in control.cancel(platform, caller, jobs)])


@router.post("/jobs/hold")
async def hold_jobs(platform: PlatformDep, caller: CallerDep, selection: Selection) -> Affected:
    jobs = control.set_held(platform, caller, _select(platform, selection), True)
    return Affected(jobs=[j.display_id for j in jobs])


@router.post("/jobs/release")
async def release_jobs(platform: PlatformDep, caller: CallerDep, selection: Selection) -> Affected:
    jobs = control.set_held(platform, caller, _select(platform, selection), False)
    return Affected(jobs=[j.display_id for j in jobs])


def _select(platform: Platform, selection: Selection) -> list[Any]:
    return control.select(
        platform,
        selection.targets,
        user=selection.user,
        name=selection.name,
        states=selection.states,
    )


@router.get("/gpus")
async def list_gpus(platform: PlatformDep, _: CallerDep) -> list[dict[str, Any]]:
    return queries.gpus(platform)


@router.get("/nodes")
async def list_nodes(platform: PlatformDep, _: CallerDep) -> list[dict[str, Any]]:
    return queries.nodes(platform)


@router.get("/share")
async def fair_share(platform: PlatformDep, _: CallerDep) -> list[dict[str, Any]]:
    return queries.shares(platform)


@router.post("/daemon/stop", status_code=202)
async def stop_daemon(request: Request, platform: PlatformDep, caller: CallerDep) -> Identity:
    if not (caller.is_admin or caller.user == platform.daemon_user):
        raise PermissionDenied("only an admin may stop the daemon")
    request.app.state.on_stop()
    return await whoami(platform, caller)
