"""Request and response bodies of login, logout, API tokens and passwords."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mlrp.services.credentials import MAX_NAME
from mlrp.services.passwords import MAX_LENGTH
from mlrp.store.credentials import TokenRecord


class LoginRequest(BaseModel):
    """A user and exactly one of its password or one of its API tokens (JSON, or an
    application/x-www-form-urlencoded form with the same fields)."""

    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=256)
    password: str | None = Field(default=None, max_length=MAX_LENGTH)
    token: str | None = Field(default=None, max_length=256)


class LoggedIn(BaseModel):
    user: str
    is_admin: bool
    expires: float  # epoch seconds
    csrf_token: str  # also in the `mlrp_csrf` cookie: echo it in X-CSRF-Token


class LoggedOut(BaseModel):
    ended: bool  # whether a session was open


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="token", min_length=1, max_length=MAX_NAME)
    expires_days: float | None = Field(default=None, gt=0, le=3650)  # None: never
    user: str | None = Field(default=None, min_length=1, max_length=256)  # admins only


class TokenInfo(BaseModel):
    id: int
    user: str
    name: str
    created: float
    last_used: float | None
    expires: float | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenInfo:
        return cls(
            id=record.id,
            user=record.user,
            name=record.name,
            created=record.created,
            last_used=record.last_used,
            expires=record.expires,
        )


class NewToken(TokenInfo):
    token: str  # shown once: only its hash is kept


class PasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=MAX_LENGTH)


class PasswordSet(BaseModel):
    user: str
