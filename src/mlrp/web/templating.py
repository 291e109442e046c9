"""The templates of the web UI (Jinja2, package data under templates/) and the filters
they format values with. Every value is escaped (autoescape): a job name or a log line
can never become markup."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from mlrp import tables
from mlrp.api.auth import CSRF_COOKIE
from mlrp.models.reasons import EXPLANATIONS, Reason

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
NOTHING = "—"
# Pages load scripts, styles and images from this site only, and no other site may frame
# them (so that no page can trick a click on Cancel).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Jinja2Templates(directory=TEMPLATES)


def when(epoch: float | None) -> str:
    """A local date and time, to the second."""
    if epoch is None:
        return NOTHING
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def relative(epoch: float | None, now: float) -> str:
    """`in 5 min`, `3 h ago`: how far `epoch` is from `now`, roughly."""
    if epoch is None:
        return ""
    gap = epoch - now
    amount = _rough(abs(gap))
    if amount == "now":
        return amount
    return f"in {amount}" if gap > 0 else f"{amount} ago"


def _rough(seconds: float) -> str:
    if seconds < 5:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def duration(seconds: float | None) -> str:
    return tables.duration(seconds) or NOTHING


def reason_text(code: str | None) -> str:
    """Slurm's pending reason in words (the CLI's `mlrp explain` wording)."""
    try:
        return EXPLANATIONS[Reason(code or "None")]
    except ValueError:
        return code or ""


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NOTHING
    return f"{value:,.{digits}f}"


for _name, _filter in {
    "when": when,
    "duration": duration,
    "reason_text": reason_text,
    "number": number,
}.items():
    templates.env.filters[_name] = _filter
templates.env.globals["relative"] = relative


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """The page `name` with `context`; every page also gets `now` and the CSRF token
    its forms send back (empty when the request did not come with a session)."""
    base = {"now": time.time(), "csrf": request.cookies.get(CSRF_COOKIE, "")}
    return templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status, headers=HEADERS
    )
