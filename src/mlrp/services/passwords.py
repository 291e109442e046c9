"""Passwords for browser login: argon2id hashes (argon2-cffi's defaults), never the text.

Hashing and checking cost tens of milliseconds of CPU on purpose; the API runs them in a
worker thread so that the event loop keeps serving. Checking a user that has no
password costs the same as checking one that has, so that timing does not tell which
users have one.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mlrp.errors import InvalidSpec

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no password is set for this user")


def check_acceptable(password: str) -> None:
    """Refuse a password too short to resist guessing, or absurdly long."""
    if len(password) < MIN_LENGTH:
        raise InvalidSpec(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidSpec(f"a password may have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_acceptable(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash` (None: the user has no password)."""
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored_hash is not None
