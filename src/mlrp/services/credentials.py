"""API tokens and browser sessions: issue, check, list, revoke.

A token is `mlrp_` and 43 URL-safe characters (32 random bytes); it is shown once, when
created, and stored as its SHA-256. A user manages its own tokens; an admin may create,
list and revoke anyone's. A session is a random cookie value (stored as its SHA-256) and
a CSRF token, for `ttl` seconds. Checks raise Unauthenticated (401) with the reason:
unknown, expired, revoked tokens all read alike to the caller ("not valid").
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlrp.errors import InvalidSpec, NotFound, PermissionDenied, Unauthenticated
from mlrp.services.identity import Caller, lookup_user
from mlrp.store.credentials import CredentialStore, SessionRecord, TokenRecord

TOKEN_PREFIX = "mlrp_"
DAY = 86400.0
MAX_NAME = 64
LAST_USED_RESOLUTION = 60.0  # seconds: `last_used` is rewritten at most this often


@dataclass(frozen=True, slots=True)
class IssuedToken:
    record: TokenRecord
    token: str  # the secret, shown once


@dataclass(frozen=True, slots=True)
class OpenedSession:
    cookie: str  # the session cookie's value, never stored
    csrf: str
    expires: float


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Credentials:
    def __init__(self, store: CredentialStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # --- API tokens ----------------------------------------------------------------------

    def create_token(
        self, caller: Caller, *, name: str, expires_days: float | None, user: str | None = None
    ) -> IssuedToken:
        owner = user or caller.user
        if owner != caller.user:
            if not caller.is_admin:
                raise PermissionDenied("only an admin may create tokens for another user")
            lookup_user(owner)  # NotFound: no such Unix user
        _check_name(name)
        now = self.clock()
        expires = None if expires_days is None else now + _days(expires_days) * DAY
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = self.store.add_token(
            user=owner, name=name, digest=digest(token), created=now, expires=expires
        )
        return IssuedToken(record, token)

    def user_of_token(self, token: str) -> str:
        """The user a bearer token stands for; Unauthenticated unless it is valid now."""
        record = self.store.token_by_digest(digest(token))
        now = self.clock()
        if record is None:
            raise Unauthenticated("this API token is not valid (unknown or revoked)")
        if record.expires is not None and record.expires <= now:
            raise Unauthenticated(
                f"API token {record.id} ({record.name}) expired; create a new one with "
                "`mlrp token create`"
            )
        if record.last_used is None or now - record.last_used >= LAST_USED_RESOLUTION:
            self.store.touch_token(record.id, now)
        return record.user

    def list_tokens(self, caller: Caller, *, everyone: bool = False) -> list[TokenRecord]:
        if everyone and not caller.is_admin:
            raise PermissionDenied("only an admin may list every user's tokens")
        return self.store.tokens(None if everyone else caller.user)

    def revoke_token(self, caller: Caller, token_id: int) -> TokenRecord:
        record = self.store.token(token_id)
        if record is None or (record.user != caller.user and not caller.is_admin):
            raise NotFound(f"no token {token_id} of yours (see `mlrp token list`)")
        self.store.delete_token(token_id)
        return record

    # --- browser sessions ----------------------------------------------------------------

    def open_session(self, user: str, ttl: float) -> OpenedSession:
        now = self.clock()
        self.store.delete_expired_sessions(now)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + ttl
        self.store.add_session(
            digest=digest(cookie), user=user, csrf=csrf, created=now, expires=expires
        )
        return OpenedSession(cookie, csrf, expires)

    def session(self, cookie: str) -> SessionRecord:
        record = self.store.session(digest(cookie))
        if record is None or record.expires <= self.clock():
            raise Unauthenticated("this session has ended; log in again")
        return record

    def close_session(self, cookie: str) -> None:
        self.store.delete_session(digest(cookie))


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidSpec(f"a token name is 1 to {MAX_NAME} printable characters; got {name!r}")


def _days(days: float) -> float:
    if not 0 < days <= 3650:
        raise InvalidSpec(f"--expires is a number of days from 0 to 3650; got {days}")
    return days
