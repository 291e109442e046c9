"""Failed-login throttling: at most `max_failures` failures per user and per client
address within `window` seconds; past that, logins for that user or from that address
are refused with 429 until the oldest failure leaves the window.

In memory (a restart forgets the counts) and independent of the outcome's cause: a
wrong password, an unknown user, a token of someone else all count alike.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from mlrp.errors import OverLimit

MAX_TRACKED = 10_000  # keys kept before stale ones are swept


class TooManyLogins(OverLimit):
    """Login refused before checking anything: too many recent failures."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginLimiter:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, user: str, address: str) -> None:
        """Raise TooManyLogins when this user or this address failed too often."""
        now = self.clock()
        for key, what in ((f"user:{user}", f"user {user!r}"), (f"addr:{address}", address)):
            recent = self._recent(key, now)
            if len(recent) >= self.max_failures:
                wait = max(1, math.ceil(recent[0] + self.window - now))
                raise TooManyLogins(
                    f"too many failed logins for {what} ({len(recent)} in the last "
                    f"{self.window:.0f} s); try again in {wait} s",
                    retry_after=wait,
                )

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        if len(self._failures) >= MAX_TRACKED:
            self._sweep(now)
        for key in (f"user:{user}", f"addr:{address}"):
            self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        """A correct login clears its user's failures (not its address's)."""
        self._failures.pop(f"user:{user}", None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
