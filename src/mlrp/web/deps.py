"""What every web route needs: the backend, the caller, the live-update watch, and the
route class that turns errors into pages.

A page is for a person: a request without credentials is sent to the login page (303,
with the page to come back to), and an `MlrpError` becomes an error page with the same
message and status the API would give, never a JSON body or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from mlrp.api.auth import authenticate
from mlrp.errors import InvalidSpec, MlrpError, NotFound, Unauthenticated
from mlrp.services.backend import Backend
from mlrp.services.events import QueueWatch
from mlrp.services.identity import Caller
from mlrp.web.templating import render

WATCH_KEY = "web_queue_watch"


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def watch_of(request: Request) -> QueueWatch:
    """The app's one queue watch (made on first use, on the daemon's loop)."""
    state = request.app.state
    watch: QueueWatch | None = getattr(state, WATCH_KEY, None)
    if watch is None:
        watch = QueueWatch(backend_of(request))
        setattr(state, WATCH_KEY, watch)
    return watch


BackendDep = Annotated[Backend, Depends(backend_of)]
CallerDep = Annotated[Caller, Depends(authenticate)]
WatchDep = Annotated[QueueWatch, Depends(watch_of)]


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='/')}"


class PageRoute(APIRoute):
    """A route that answers with pages: errors become pages (see the module doc)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthenticated:
                return RedirectResponse(login_url(request), status_code=303)
            except RequestValidationError as e:
                return error_page(request, _invalid(request, e))
            except MlrpError as e:
                return error_page(request, e)

        return page_handler


def _invalid(request: Request, error: RequestValidationError) -> MlrpError:
    """A path parameter that cannot be (`/jobs/abc`) is a page that does not exist; a
    bad query or form field is named, as the API names it."""
    problems = error.errors()
    if any(item["loc"][:1] == ("path",) for item in problems):
        return NotFound(f"no page at {request.url.path}")
    words = "; ".join(f"{item['loc'][-1]}: {item['msg']}" for item in problems)
    return InvalidSpec(f"this request cannot be answered: {words}")


def error_page(request: Request, error: MlrpError) -> Response:
    context = {"error": error, "title": "Error", "caller": None}
    return render(request, "error.html", context, status=error.status)
