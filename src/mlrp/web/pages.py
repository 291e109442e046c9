"""The pages (GET): dashboard, job, submit form, fair share, usage, login.

Each route reads what it shows through the backend (the same calls as the API's routes,
with the same caller), builds it with mlrp.web.views and renders a template. `fragment=1`
on the dashboard and the job page renders only their live part, which the page's script
fetches again when the queue's event stream says something changed.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from mlrp.errors import MlrpError
from mlrp.models.states import JobState
from mlrp.services import usage
from mlrp.services.backend import Backend, Listing
from mlrp.services.identity import Caller
from mlrp.web import views
from mlrp.web.charts import stacked_bars
from mlrp.web.deps import BackendDep, CallerDep, PageRoute
from mlrp.web.forms import SubmitForm
from mlrp.web.templating import render

MAX_ID = 2**63 - 1
QUEUE_SHOWN = 100  # pending jobs listed on the dashboard; the rest are counted
MY_JOBS_SHOWN = 50
MY_HISTORY = 86400.0  # the dashboard's "my jobs" includes those that ended in this span
WAITING_EXPLAINED = 10  # the fair-share page explains at most this many of my jobs
USAGE_DAYS = (7, 14, 30, 90)
HELD_GPUS = [state for state in JobState if state is not JobState.PENDING]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
JobId = Annotated[int, Path(ge=0, le=MAX_ID)]
Fragment = Annotated[bool, Query()]
# What the last action on the job page did (see mlrp.web.actions); its notice's words
# are the template's, so a link cannot make the page say anything else.
Done = Literal["submitted", "cancel", "hold", "release", "unchanged"]


@router.get("/")
async def dashboard(
    request: Request, backend: BackendDep, caller: CallerDep, fragment: Fragment = False
) -> Response:
    now = time.time()
    rows = json.loads(await backend.queue_json(Listing()))
    jobs = {int(row["id"]): row for row in rows}
    mine = json.loads(
        await backend.queue_json(Listing(user=caller.user, ended_since=now - MY_HISTORY))
    )
    mine.sort(key=lambda row: row["id"], reverse=True)
    context = {
        "title": "Dashboard",
        "page": "dashboard",
        "caller": caller,
        "gpus": views.gpu_rows(await backend.gpus(), jobs),
        "queue": views.queue_view(rows, shown=QUEUE_SHOWN),
        "mine": mine[:MY_JOBS_SHOWN],
        "now": now,
    }
    return render(request, "_dashboard_live.html" if fragment else "dashboard.html", context)


@router.get("/jobs/{job_id}")
async def job_page(
    request: Request,
    backend: BackendDep,
    caller: CallerDep,
    job_id: JobId,
    fragment: Fragment = False,
    log: Annotated[str, Query(pattern="^(out|err)$")] = "out",
    done: Done | None = None,
) -> Response:
    now = time.time()
    job = await backend.job_detail(caller, job_id)
    explained = await backend.explain(job_id, None) if job["state"] == "PENDING" else None
    context = {
        "title": f"Job {job['display_id']}",
        "page": "job",
        "caller": caller,
        "job": job,
        "allowed": views.may_act(caller, job),
        "timeline": views.timeline(job, now),
        "spec": views.spec_rows(job),
        "waiting": views.why_waiting(explained, now) if explained else [],
        "log": log,
        "done": done,
        "now": now,
    }
    return render(request, "_job_live.html" if fragment else "job.html", context)


@router.get("/submit")
async def submit_page(request: Request, backend: BackendDep, caller: CallerDep) -> Response:
    return await submit_form(request, backend, caller, SubmitForm(), error=None)


async def submit_form(
    request: Request,
    backend: Backend,
    caller: Caller,
    form: SubmitForm,
    *,
    error: MlrpError | None,
) -> Response:
    """The submit form, filled with `form`, and the error that refused it."""
    accounts = sorted({row["account"] for row in await backend.shares()})
    context = {
        "title": "Submit a job",
        "page": "submit",
        "caller": caller,
        "form": form,
        "error": error,
        "accounts": accounts,
    }
    return render(request, "submit.html", context, status=error.status if error else 200)


@router.get("/share")
async def share_page(
    request: Request,
    backend: BackendDep,
    caller: CallerDep,
    job: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    now = time.time()
    listing = Listing(user=caller.user, states=[JobState.PENDING])
    waiting = json.loads(await backend.queue_json(listing))
    explained = []
    for row in waiting[:WAITING_EXPLAINED]:
        explained.append((row, views.why_waiting(await backend.explain(row["id"], None), now)))
    asked: list[str] = []
    if job is not None:
        asked = views.why_waiting(await backend.explain(job, None), now)
    context = {
        "title": "Fair share",
        "page": "share",
        "caller": caller,
        "lines": views.share_lines(await backend.shares()),
        "explained": explained,
        "waiting_total": len(waiting),
        "asked_job": job,
        "asked": asked,
    }
    return render(request, "share.html", context)


@router.get("/usage")
async def usage_page(
    request: Request,
    backend: BackendDep,
    caller: CallerDep,
    days: Annotated[int, Query(ge=1, le=usage.MAX_DAYS)] = 14,
) -> Response:
    now = time.time()
    since = usage.window_start(now, days)
    listing = Listing(states=HELD_GPUS, ended_since=since)  # pending jobs used nothing
    rows = json.loads(await backend.queue_json(listing))
    daily = usage.daily_usage(rows, now=now, days=days)
    labels = [day.strftime("%m-%d") for day in daily.days]
    context: dict[str, Any] = {
        "title": "Usage",
        "page": "usage",
        "caller": caller,
        "days": days,
        "choices": USAGE_DAYS,
        "daily": daily,
        "labels": labels,
        "by_account": stacked_bars(
            labels, daily.by_account, title="GPU-hours per account", unit="GPU-hours"
        ),
        "by_user": stacked_bars(
            labels, daily.by_user, title="GPU-hours per user", unit="GPU-hours"
        ),
    }
    return render(request, "usage.html", context)


@router.get("/login")
async def login_page(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    context = {"title": "Log in", "page": "login", "caller": None, "next": safe_next(next)}
    return render(request, "login.html", context)


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this site only (never `//host` or a URL)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
