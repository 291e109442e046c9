"""The web UI, served by the daemon's own app: server-rendered pages (Jinja2), a little
hand-written JavaScript for login and live updates, and CSS; no Node.js, no build step.

    /                 dashboard: GPUs and their holders, the queue, my jobs
    /jobs/{id}        a job: specification, timeline, live log, cancel/hold/release
    /submit           the submit form (a command, or a pasted #SBATCH script)
    /share            the fair-share tree, and why my jobs wait
    /usage            GPU-hours per account and per user, per day (SVG charts)
    /login            log in (POST /api/v1/login); logging out is POST /api/v1/logout
    /static/...       app.css, app.js
    /api/v1/events, /api/v1/jobs/{id}/logs/stream    server-sent events (mlrp.web.streams)

Modules: `pages` (GET routes), `actions` (form posts), `streams` (event streams), `views`
(what a page shows, from the backend's rows), `charts` (SVG geometry), `forms` (the
submit form -> an sbatch request), `sse` (the event generators), `templating`, `deps`.
Every page reads through the `Backend` the API uses, as the caller `mlrp.api.auth`
authenticated; nothing here touches the store.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mlrp.web import actions, pages, streams
from mlrp.web.templating import STATIC


def install(app: FastAPI) -> None:
    """Add the web UI's routes and static files to the daemon's app."""
    app.include_router(streams.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
