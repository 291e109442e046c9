"""What the pages' forms post: submit a job; cancel, hold or release one.

    POST /submit              the submit form -> POST /api/v1/jobs/sbatch's service call
    POST /jobs/{id}/cancel    (and /hold, /release) the job page's buttons

A request with the session cookie carries the CSRF token in the form's `csrf_token`
field (checked by mlrp.api.auth before the route runs). Success redirects (303) to the
job's page, so that reloading it does not post again; a refusal shows the form or an
error page with the service's message, the words the CLI prints.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from mlrp.errors import InvalidSpec, MlrpError
from mlrp.services.backend import Selection
from mlrp.web.deps import BackendDep, CallerDep, PageRoute
from mlrp.web.forms import SubmitForm, sbatch_request
from mlrp.web.pages import submit_form

MAX_FORM = 1 << 20  # bytes: a pasted script and its options
router = APIRouter(route_class=PageRoute, include_in_schema=False)
JobId = Annotated[int, Path(ge=0, le=2**63 - 1)]


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form (already read, and cached, when the CSRF check read it)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidSpec(f"the form is larger than {MAX_FORM} bytes")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as e:
        raise InvalidSpec("the form is not UTF-8 text") from e


@router.post("/submit")
async def submit(request: Request, backend: BackendDep, caller: CallerDep) -> Response:
    form = SubmitForm.of(await form_fields(request))
    try:
        receipt = await backend.submit_request(caller, sbatch_request(form, user=caller.user))
    except MlrpError as e:
        return await submit_form(request, backend, caller, form, error=e)
    return RedirectResponse(f"/jobs/{receipt.ids[0]}?done=submitted", status_code=303)


@router.post("/jobs/{job_id}/{action}")
async def act(
    backend: BackendDep,
    caller: CallerDep,
    job_id: JobId,
    action: Literal["cancel", "hold", "release"],
) -> Response:
    job = await backend.job_detail(caller, job_id)
    selection = Selection(targets=[job["display_id"]])
    if action == "cancel":
        affected = await backend.cancel(caller, selection)
    else:
        affected = await backend.set_held(caller, selection, action == "hold")
    done = action if affected else "unchanged"
    return RedirectResponse(f"/jobs/{job_id}?done={done}", status_code=303)
