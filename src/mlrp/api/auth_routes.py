"""Routes of credentials: browser login and logout, API tokens, passwords.

POST   /api/v1/login             user + password or token -> session cookies
POST   /api/v1/logout            ends the session (CSRF token required)
POST   /api/v1/tokens            a new API token, shown once (Unix socket only)
GET    /api/v1/tokens            the caller's tokens (`all=true`: everyone's, admins)
DELETE /api/v1/tokens/{id}       revoke one
PUT    /api/v1/password          set the caller's own password (Unix socket only)
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mlrp.api.auth import (
    FORM_TYPE,
    SESSION_COOKIE,
    access_of,
    authenticate,
    check_csrf,
    clear_session_cookies,
    client_address,
    content_type,
    require_unix_socket,
    set_session_cookies,
)
from mlrp.api.auth_schemas import (
    LoggedIn,
    LoggedOut,
    LoginRequest,
    NewToken,
    PasswordRequest,
    PasswordSet,
    TokenInfo,
    TokenRequest,
)
from mlrp.config import describe_validation
from mlrp.errors import InvalidSpec, Unauthenticated
from mlrp.services.identity import Caller

CallerDep = Annotated[Caller, Depends(authenticate)]

router = APIRouter(prefix="/api/v1", tags=["access"])

TokenId = Annotated[int, Path(ge=1, le=2**63 - 1)]  # SQLite's INTEGER

_LOGIN_SCHEMA = {"$ref": "#/components/schemas/LoginRequest"}
LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _LOGIN_SCHEMA},
            FORM_TYPE: {"schema": _LOGIN_SCHEMA},
        },
    }
}


@router.post("/login", response_model=LoggedIn, openapi_extra=LOGIN_BODY)
async def login(request: Request) -> JSONResponse:
    """Open a browser session: sets `mlrp_session` (HttpOnly) and `mlrp_csrf` (to echo
    in X-CSRF-Token). Five failures a minute per user or per address: 429."""
    form = await _login_form(request)
    logins = access_of(request).logins
    caller, session = await logins.login(
        form.user, client_address(request), password=form.password, token=form.token
    )
    body = LoggedIn(
        user=caller.user, is_admin=caller.is_admin, expires=session.expires, csrf_token=session.csrf
    )
    response = JSONResponse(body.model_dump())
    set_session_cookies(response, request, session, max_age=int(logins.session_ttl))
    return response


async def _login_form(request: Request) -> LoginRequest:
    raw = await request.body()
    kind = content_type(request)
    try:
        if kind == FORM_TYPE:
            data: Any = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        elif kind in ("application/json", ""):
            data = json.loads(raw or b"null")
        else:
            raise InvalidSpec(f"send the login as application/json or {FORM_TYPE}, not {kind}")
        return LoginRequest.model_validate(data)
    except (ValueError, UnicodeDecodeError) as e:
        detail = describe_validation(e) if isinstance(e, ValidationError) else str(e)
        raise InvalidSpec(f"bad login request: {detail}") from e


@router.post("/logout")
async def logout(request: Request) -> JSONResponse:
    """End the browser session, if one is open, and clear its cookies."""
    cookie = request.cookies.get(SESSION_COOKIE)
    ended = False
    if cookie:
        credentials = access_of(request).credentials
        try:
            record = credentials.session(cookie)
        except Unauthenticated:
            record = None
        if record is not None:
            await check_csrf(request, record.csrf)
            credentials.close_session(cookie)
            ended = True
    response = JSONResponse(LoggedOut(ended=ended).model_dump())
    clear_session_cookies(response, request)
    return response


@router.post("/tokens", status_code=201)
async def create_token(request: Request, caller: CallerDep, body: TokenRequest) -> NewToken:
    """A new API token for the caller (an admin: for `user`). The token is in this
    reply only."""
    require_unix_socket(request, "API tokens are created")
    issued = access_of(request).credentials.create_token(
        caller, name=body.name, expires_days=body.expires_days, user=body.user
    )
    return NewToken(**TokenInfo.of(issued.record).model_dump(), token=issued.token)


@router.get("/tokens")
async def list_tokens(request: Request, caller: CallerDep, all: bool = False) -> list[TokenInfo]:
    records = access_of(request).credentials.list_tokens(caller, everyone=all)
    return [TokenInfo.of(record) for record in records]


@router.delete("/tokens/{token_id}")
async def revoke_token(request: Request, caller: CallerDep, token_id: TokenId) -> TokenInfo:
    return TokenInfo.of(access_of(request).credentials.revoke_token(caller, token_id))


@router.put("/password")
async def set_password(request: Request, caller: CallerDep, body: PasswordRequest) -> PasswordSet:
    """Set the caller's own password, for browser login; its open sessions end."""
    require_unix_socket(request, "passwords are set")
    await access_of(request).logins.set_password(caller, body.password)
    return PasswordSet(user=caller.user)


@router.get("/openapi.json", include_in_schema=False)
async def openapi_description(request: Request) -> JSONResponse:
    """The OpenAPI description, also under the API's prefix."""
    return JSONResponse(request.app.openapi())
