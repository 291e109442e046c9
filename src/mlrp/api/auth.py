"""Who sends each API request, and the checks that go with how it was sent.

    Unix socket   the kernel's peer credentials (SO_PEERCRED, see mlrp.api.peercred);
                  nothing else is asked or looked at
    TCP           `Authorization: Bearer <API token>` (mlrp token create), or the
                  browser session cookie `mlrp_session` (POST /api/v1/login); a request
                  authenticated by the cookie that is not GET/HEAD/OPTIONS must echo the
                  session's CSRF token (cookie `mlrp_csrf`) in the `X-CSRF-Token` header
                  or a `csrf_token` form field, else 403
    neither       401, `WWW-Authenticate: Bearer`

The result is a `Caller` with its roles (mlrp.services.roles); every route takes it
through `authenticate` and the services check it against the job at hand.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from mlrp.api.peercred import PEER_KEY
from mlrp.errors import PermissionDenied, Unauthenticated
from mlrp.services.credentials import Credentials, OpenedSession
from mlrp.services.identity import Caller
from mlrp.services.login_limits import LoginLimiter, TooManyLogins
from mlrp.services.logins import Logins
from mlrp.services.roles import Roles
from mlrp.store.credentials import CredentialStore

SESSION_COOKIE = "mlrp_session"
CSRF_COOKIE = "mlrp_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPE = "application/x-www-form-urlencoded"
NO_CREDENTIALS = (
    "authentication required: send `Authorization: Bearer <token>` (create one with "
    "`mlrp token create` on the machine) or log in with POST /api/v1/login"
)

_bearer = HTTPBearer(auto_error=False, description="an API token from `mlrp token create`")
_session = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="a session from POST /api/v1/login"
)


@dataclass(frozen=True, slots=True)
class Access:
    """What authentication needs, built once by the daemon. Without a login service (an
    app built with no credential store) only the Unix socket is served."""

    roles: Roles
    login_service: Logins | None = None

    @classmethod
    def build(
        cls,
        roles: Roles,
        store: CredentialStore,
        *,
        session_ttl: float,
        limiter: LoginLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Access:
        credentials = Credentials(store, clock)
        logins = Logins(credentials, roles, limiter or LoginLimiter(), session_ttl=session_ttl)
        return cls(roles, logins)

    @property
    def logins(self) -> Logins:
        if self.login_service is None:
            raise Unauthenticated("this daemon keeps no credentials; use the Unix socket")
        return self.login_service

    @property
    def credentials(self) -> Credentials:
        return self.logins.credentials


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    session: Annotated[str | None, Security(_session)] = None,
) -> Caller:
    """The caller of this request (a FastAPI dependency); see the module doc."""
    access = access_of(request)
    peer = request.scope.get(PEER_KEY)
    if peer is not None:
        _, uid, gid = peer
        return access.roles.caller_for_uid(uid, gid)
    if bearer is not None:
        return access.roles.caller_for_user(access.credentials.user_of_token(bearer.credentials))
    if request.headers.get("authorization"):
        raise Unauthenticated("the Authorization header must read `Bearer <token>`")
    if session:
        record = access.credentials.session(session)
        if request.method not in SAFE_METHODS:
            await check_csrf(request, record.csrf)
        return access.roles.caller_for_user(record.user)
    raise Unauthenticated(NO_CREDENTIALS)


async def check_csrf(request: Request, expected: str) -> None:
    """Double submit: the CSRF token must come back in a header or a form field, which
    another site's page cannot set (it can make a browser send the cookie, not read it)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and content_type(request) == FORM_TYPE:
        sent = dict(parse_qsl((await request.body()).decode("latin-1"))).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDenied(
            f"missing or wrong CSRF token: a request made with the session cookie must "
            f"send the `{CSRF_COOKIE}` cookie's value in the {CSRF_HEADER} header "
            f"(or a `{CSRF_FIELD}` form field)"
        )


def require_unix_socket(request: Request, action: str) -> None:
    """Minting credentials needs the identity the kernel vouches for: a leaked token or
    session must not be able to outlive its own revocation."""
    if request.scope.get(PEER_KEY) is None:
        raise PermissionDenied(f"{action} only over the Unix socket (the `mlrp` command)")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "local"


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def set_session_cookies(
    response: Response, request: Request, session: OpenedSession, *, max_age: int
) -> None:
    """HttpOnly session cookie, script-readable CSRF cookie; both SameSite=Strict, and
    Secure when the request came over TLS (directly, or through a trusted proxy)."""
    secure = request.url.scheme == "https"
    for name, value, http_only in (
        (SESSION_COOKIE, session.cookie, True),
        (CSRF_COOKIE, session.csrf, False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=http_only,
            samesite="strict",
        )


def clear_session_cookies(response: Response, request: Request) -> None:
    secure = request.url.scheme == "https"
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="strict")


def install(app: FastAPI, access: Access) -> None:
    """Attach `access` to the app, and the error replies that carry their own headers."""
    app.state.access = access
    app.add_exception_handler(Unauthenticated, _unauthenticated)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyLogins, _too_many_logins)  # type: ignore[arg-type]


async def _unauthenticated(_: Request, error: Unauthenticated) -> JSONResponse:
    return _error(error.status, error.code, error.message, {"WWW-Authenticate": "Bearer"})


async def _too_many_logins(_: Request, error: TooManyLogins) -> JSONResponse:
    return _error(error.status, error.code, error.message, {"Retry-After": str(error.retry_after)})


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)
