"""What a pass works out from its policy alone, worked out once per policy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from mlrp.models.policy import Policy

T = TypeVar("T")
KEPT = 4  # policies remembered per function (a daemon reloads; tests build many)


def per_policy(build: Callable[[Policy], T]) -> Callable[[Policy], T]:
    """`build`, its result remembered for the last few policies by identity: the daemon
    and the simulator pass the same (frozen) policy to every pass. The cache holds each
    policy, so an identity is never reused while it is remembered."""
    cache: list[tuple[Policy, T]] = []

    @functools.wraps(build)
    def cached(policy: Policy) -> T:
        for seen, value in cache:
            if seen is policy:
                return value
        value = build(policy)
        cache.insert(0, (policy, value))
        del cache[KEPT:]
        return value

    return cached
