"""The FastAPI application: every operation the CLI offers, under /api/v1.

Errors share one JSON shape, `{"error": {"code": ..., "message": ...}}`, with the
status of the MlrpError subclass (see mlrp.errors).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from mlrp import __version__, web
from mlrp.api import auth, auth_routes
from mlrp.api.schemas import (
    Affected,
    BatchSubmit,
    BatchSubmitted,
    ErrorResponse,
    Identity,
    JobList,
    Planned,
    SbatchRequest,
    Selection,
    Submitted,
)
from mlrp.errors import MlrpError, PermissionDenied
from mlrp.models.jobs import JobSpec
from mlrp.models.states import JobState
from mlrp.services import backend as backends
from mlrp.services.backend import Backend, Listing
from mlrp.services.identity import Caller
from mlrp.services.roles import Roles

log = logging.getLogger("mlrp.api")


def create_app(
    backend: Backend,
    *,
    on_stop: Callable[[], None] = lambda: None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    access: auth.Access | None = None,
) -> FastAPI:
    """`access`: authentication and roles (mlrp.api.auth); without it, only the Unix
    socket's callers are served, with the backend's admins."""
    app = FastAPI(
        lifespan=lifespan,
        title="mlrp",
        version=__version__,
        description="Queue, fair-share and run GPU jobs on a lab's machines.",
        responses={400: {"model": ErrorResponse}},
    )
    app.state.backend = backend
    app.state.on_stop = on_stop
    app.add_exception_handler(MlrpError, _mlrp_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(router)
    app.include_router(auth_routes.router)
    web.install(app)  # the web UI: pages, static files, event streams (mlrp.web)
    auth.install(app, access or auth.Access(Roles(backend.admins, multi_user=backend.multi_user)))
    return app


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug, not bad input: logged with its traceback, answered in the one error shape."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    message = "internal error: the daemon's log has the details; please report it"
    return _error(500, "internal", message)


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


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


get_caller = auth.authenticate  # the caller of a request: see mlrp.api.auth


BackendDep = Annotated[Backend, Depends(get_backend)]
CallerDep = Annotated[Caller, Depends(get_caller)]

router = APIRouter(prefix="/api/v1")

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: ids and offsets past it cannot exist
JobId = Annotated[int, Path(ge=0, le=MAX_ID)]


@router.get("/whoami")
async def whoami(backend: BackendDep, caller: CallerDep) -> Identity:
    return Identity(
        user=caller.user,
        uid=caller.uid,
        is_admin=caller.is_admin,
        multi_user=backend.multi_user,
        backend=backend.kind,
    )


@router.post("/jobs", status_code=201)
async def submit_job(backend: BackendDep, caller: CallerDep, spec: JobSpec) -> Submitted:
    receipt = await backend.submit(caller, spec)
    return Submitted(ids=receipt.ids, display_ids=receipt.display_ids)


@router.post("/jobs/sbatch", status_code=201)
async def submit_sbatch(
    backend: BackendDep, caller: CallerDep, request: SbatchRequest
) -> Submitted:
    """`mlrp submit` / `mlrp run` as typed: sbatch options, #SBATCH lines and task YAML
    are parsed here, so that the CLI loads no parser."""
    receipt = await backend.submit_request(caller, request.model_dump())
    return Submitted(ids=receipt.ids, display_ids=receipt.display_ids)


@router.post("/jobs/plan")
async def plan_sbatch(backend: BackendDep, caller: CallerDep, request: SbatchRequest) -> Planned:
    """`mlrp submit --dry-run`: the spec fields and the sbatch script that a submit of
    the same request would produce; nothing is submitted."""
    return Planned(**await backend.plan(caller, request.model_dump()))


@router.post("/jobs/batch", status_code=201, response_model=BatchSubmitted)
async def submit_batch(backend: BackendDep, caller: CallerDep, batch: BatchSubmit) -> Response:
    """The reply is written as JSON directly: a model per receipt would cost more than
    the rest of a large batch's answer."""
    receipts = await backend.submit_many(caller, batch.specs, env=batch.env)
    jobs = [{"ids": r.ids, "display_ids": r.display_ids} for r in receipts]
    return Response(json.dumps({"jobs": jobs}), status_code=201, media_type="application/json")


@router.get("/jobs", response_model=JobList)
async def list_jobs(
    backend: BackendDep,
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
    """Listing rows as the backend builds them (the local one: JSON from SQLite, as a
    per-row model would cost more than the query for a long queue). `format=table`: the
    text of `mlrp queue` (`start=true`: of `mlrp queue --start`; `tz`: the caller's TZ,
    "" when unset)."""
    listing = Listing(states=state, user=user, account=account, name=name, ended_since=since)
    if output == "table":
        text = await backend.queue_table(listing, start=start, tz=tz)
        return Response(text, media_type="text/plain; charset=utf-8")
    rows = await backend.queue_json(listing)
    return Response(f'{{"jobs": {rows}}}', media_type="application/json")


@router.get("/jobs/{job_id}")
async def show_job(backend: BackendDep, caller: CallerDep, job_id: JobId) -> dict[str, Any]:
    return await backend.job_detail(caller, job_id)


@router.get("/jobs/{job_id}/explain")
async def explain_job(
    backend: BackendDep,
    _: CallerDep,
    job_id: JobId,
    vs: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """Why the job waits (or ran), factor by factor; with `vs`, against that job."""
    return await backend.explain(job_id, vs)


@router.get("/jobs/{job_id}/logs")
async def job_logs(
    backend: BackendDep,
    caller: CallerDep,
    job_id: JobId,
    stream: Annotated[str, Query(pattern="^(out|err)$")] = "out",
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """Raw bytes from `offset`; headers give the next offset and the job's state, so a
    follower knows when to stop."""
    chunk = await backend.read_log(caller, job_id, stream=stream, offset=offset)
    headers = {"X-Mlrp-Offset": str(chunk.offset), "X-Mlrp-State": chunk.state.value}
    return Response(content=chunk.data, media_type="application/octet-stream", headers=headers)


@router.post("/jobs/cancel")
async def cancel_jobs(backend: BackendDep, caller: CallerDep, selection: Selection) -> Affected:
    return Affected(jobs=await backend.cancel(caller, _selection(selection)))


@router.post("/jobs/hold")
async def hold_jobs(backend: BackendDep, caller: CallerDep, selection: Selection) -> Affected:
    return Affected(jobs=await backend.set_held(caller, _selection(selection), True))


@router.post("/jobs/release")
async def release_jobs(backend: BackendDep, caller: CallerDep, selection: Selection) -> Affected:
    return Affected(jobs=await backend.set_held(caller, _selection(selection), False))


def _selection(selection: Selection) -> backends.Selection:
    return backends.Selection(
        targets=selection.targets,
        user=selection.user,
        name=selection.name,
        states=selection.states,
    )


@router.get("/gpus")
async def list_gpus(backend: BackendDep, _: CallerDep) -> list[dict[str, Any]]:
    return await backend.gpus()


@router.get("/nodes")
async def list_nodes(backend: BackendDep, _: CallerDep) -> list[dict[str, Any]]:
    return await backend.nodes()


@router.get("/share")
async def fair_share(backend: BackendDep, _: CallerDep) -> list[dict[str, Any]]:
    return await backend.shares()


@router.post("/daemon/stop", status_code=202)
async def stop_daemon(request: Request, backend: BackendDep, caller: CallerDep) -> Identity:
    if not (caller.is_admin or caller.uid == os.geteuid()):
        raise PermissionDenied("only an admin may stop the daemon")
    request.app.state.on_stop()
    return await whoami(backend, caller)
