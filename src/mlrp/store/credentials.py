"""API tokens, passwords and browser sessions, in the daemon's SQLite database.

Only digests are kept: an API token's and a session cookie's SHA-256 (both are 256-bit
random values, so a plain hash is enough to make a stolen database useless), and a
password's argon2 hash (made by mlrp.services.passwords). The tables live in the jobs'
database (one file, one connection) and are created here, idempotently, at open.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    last_used REAL,
    expires REAL
);
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens(user);

CREATE TABLE IF NOT EXISTS passwords (
    user TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    updated REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
);
"""

_TOKEN_COLUMNS = "id, user, name, created, last_used, expires"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as listed: never the token itself."""

    id: int
    user: str
    name: str
    created: float
    last_used: float | None
    expires: float | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user: str
    csrf: str  # the session's CSRF token (not secret from its user: sent as a cookie)
    expires: float


class CredentialStore:
    """The SQL of tokens, passwords and sessions, on the daemon's connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    # --- API tokens ----------------------------------------------------------------------

    def add_token(
        self, *, user: str, name: str, digest: str, created: float, expires: float | None
    ) -> TokenRecord:
        cursor = self.db.execute(
            "INSERT INTO api_tokens (user, name, digest, created, expires) VALUES (?, ?, ?, ?, ?)",
            (user, name, digest, created, expires),
        )
        assert cursor.lastrowid is not None
        return TokenRecord(cursor.lastrowid, user, name, created, None, expires)

    def token_by_digest(self, digest: str) -> TokenRecord | None:
        row = self.db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE digest = ?", (digest,)
        ).fetchone()
        return _token(row) if row else None

    def token(self, token_id: int) -> TokenRecord | None:
        row = self.db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        return _token(row) if row else None

    def tokens(self, user: str | None) -> list[TokenRecord]:
        """The tokens of `user` (None: everyone's), oldest first."""
        if user is None:
            rows = self.db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY id")
        else:
            rows = self.db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE user = ? ORDER BY id", (user,)
            )
        return [_token(row) for row in rows]

    def touch_token(self, token_id: int, when: float) -> None:
        self.db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", (when, token_id))

    def delete_token(self, token_id: int) -> None:
        self.db.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,))

    # --- passwords -----------------------------------------------------------------------

    def set_password(self, user: str, password_hash: str, when: float) -> None:
        self.db.execute(
            "INSERT INTO passwords (user, hash, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(user) DO UPDATE SET hash = excluded.hash, updated = excluded.updated",
            (user, password_hash, when),
        )

    def password_hash(self, user: str) -> str | None:
        row = self.db.execute("SELECT hash FROM passwords WHERE user = ?", (user,)).fetchone()
        return str(row[0]) if row else None

    # --- browser sessions ----------------------------------------------------------------

    def add_session(
        self, *, digest: str, user: str, csrf: str, created: float, expires: float
    ) -> None:
        self.db.execute(
            "INSERT INTO sessions (digest, user, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
            (digest, user, csrf, created, expires),
        )

    def session(self, digest: str) -> SessionRecord | None:
        row = self.db.execute(
            "SELECT user, csrf, expires FROM sessions WHERE digest = ?", (digest,)
        ).fetchone()
        return SessionRecord(row[0], row[1], row[2]) if row else None

    def delete_session(self, digest: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE digest = ?", (digest,))

    def delete_sessions_of(self, user: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    def delete_expired_sessions(self, now: float) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))


def _token(row: Any) -> TokenRecord:
    """A row of _TOKEN_COLUMNS (a sqlite3.Row or a tuple)."""
    token_id, user, name, created, last_used, expires = tuple(row)
    return TokenRecord(token_id, user, name, created, last_used, expires)
