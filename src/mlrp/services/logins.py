"""Browser login and passwords: a user name with a password or an API token opens a
session; `mlrp passwd` sets the caller's own password.

Every failure, whatever its cause (unknown user, no password set, wrong password, a
token that is not that user's), answers the same 401 and counts against the user and
the client address (mlrp.services.login_limits).
"""

from __future__ import annotations

import asyncio

from mlrp.errors import InvalidSpec, Unauthenticated
from mlrp.services.credentials import Credentials, OpenedSession
from mlrp.services.identity import Caller
from mlrp.services.login_limits import LoginLimiter
from mlrp.services.passwords import hash_password, verify_password
from mlrp.services.roles import Roles

FAILED = "wrong user name, password or token"


class Logins:
    def __init__(
        self, credentials: Credentials, roles: Roles, limiter: LoginLimiter, *, session_ttl: float
    ) -> None:
        self.credentials = credentials
        self.roles = roles
        self.limiter = limiter
        self.session_ttl = session_ttl

    async def login(
        self, user: str, address: str, *, password: str | None, token: str | None
    ) -> tuple[Caller, OpenedSession]:
        """A session for `user`, proven by its password or one of its API tokens."""
        if (password is None) == (token is None):
            raise InvalidSpec("log in with a user and either a password or an API token")
        self.limiter.check(user, address)
        if not await self._proven(user, password=password, token=token):
            self.limiter.failed(user, address)
            raise Unauthenticated(FAILED)
        caller = self.roles.caller_for_user(user)
        self.limiter.succeeded(user)
        return caller, self.credentials.open_session(user, self.session_ttl)

    async def _proven(self, user: str, *, password: str | None, token: str | None) -> bool:
        if token is not None:
            try:
                return self.credentials.user_of_token(token) == user
            except Unauthenticated:
                return False
        assert password is not None
        stored = self.credentials.store.password_hash(user)
        return await asyncio.to_thread(verify_password, stored, password)

    async def set_password(self, caller: Caller, password: str) -> None:
        """Set the caller's own password; its open browser sessions end."""
        hashed = await asyncio.to_thread(hash_password, password)
        store = self.credentials.store
        store.set_password(caller.user, hashed, self.credentials.clock())
        store.delete_sessions_of(caller.user)
