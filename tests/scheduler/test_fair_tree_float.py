"""Fair Tree's float walk (fairshare._FloatRanking) ranks exactly as the exact walk.

`fairshare_factors` compares level fair-shares in floats and falls back to exact
rationals for near ties (and for usages the floats cannot be trusted with): these
tests compare it with the exact walk on trees built to tie, nearly tie, and reach the
edges of the float range.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import policy

from mlrp.models.policy import Account, Policy
from mlrp.scheduler import fairshare_factors
from mlrp.scheduler.fairshare import _Levels, _Ranking, _Tree

Usage = dict[tuple[str, str], float]

# Values that tie (equal), nearly tie (a few ulps apart, 0.1 + 0.2 vs 0.3), or sit at
# the edges: zero, negative, NaN, infinities, subnormal, tiny and huge.
EDGES = st.sampled_from(
    [
        0.0,
        -1.0,
        math.nan,
        math.inf,
        -math.inf,
        5e-324,
        1e-300,
        1e-290,
        1e290,
        1e300,
        1.7e308,
        0.1,
        0.2,
        0.3,
        0.1 + 0.2,
        1.0,
        math.nextafter(1.0, 2.0),
        math.nextafter(1.0, 0.0),
        2.0,
        3.0,
        1.0 / 3.0,
        2.0 / 3.0,
    ]
)
USAGE = st.one_of(EDGES, st.integers(0, 4).map(float), st.floats(min_value=0.0, max_value=1e6))
USERS = ("u1", "u2", "u3", "u4")


def exact(pol: Policy, usage: Usage) -> dict[tuple[str, str], float]:
    return _Ranking(_Levels(_Tree(pol, usage))).factors


@st.composite
def trees(draw: st.DrawFn) -> tuple[Policy, list[Usage]]:
    """Up to 6 accounts (under the root or an earlier account, sometimes with huge
    shares), users with and without usage, usage under unlisted users; and a few usage
    maps with the same keys, so that the cached float walk is reused."""
    names = [f"a{i}" for i in range(draw(st.integers(1, 6)))]
    accounts = []
    keys: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        users = draw(st.lists(st.sampled_from(USERS), max_size=3, unique=True))
        parent = draw(st.sampled_from([None, *names[:i]]))
        shares = draw(st.one_of(st.integers(1, 3), st.just(2**60)))
        accounts.append(Account(name=name, parent=parent, shares=shares, users=users))
        keys += [(name, user) for user in users if draw(st.booleans())]
        keys += [(name, "extra")] if draw(st.booleans()) else []
    usages = [{key: draw(USAGE) for key in keys} for _ in range(draw(st.integers(1, 3)))]
    return policy(accounts=accounts), usages


@settings(max_examples=500, deadline=None)
@given(trees())
def test_float_walk_ranks_as_the_exact_walk(tree: tuple[Policy, list[Usage]]) -> None:
    pol, usages = tree
    for usage in usages:
        factors = fairshare_factors(pol, usage)
        expected = exact(pol, usage)
        assert list(factors.items()) == list(expected.items())


@settings(max_examples=300, deadline=None)
@given(trees(), st.data())
def test_ranks_follow_usage_that_drifts_pass_after_pass(
    tree: tuple[Policy, list[Usage]], data: st.DataObject
) -> None:
    # As in the daemon and the simulator: the same keys every pass, usage decayed as a
    # whole and grown by a little here and there, so the order mostly holds (and the
    # last walk's ranks are reused) but sometimes two accounts swap or nearly tie.
    pol, [usage, *_] = tree
    keys = sorted(usage)
    for _ in range(data.draw(st.integers(1, 8))):
        scale = data.draw(st.sampled_from([1.0, 0.5, 0.999999]))
        usage = {key: value * scale for key, value in usage.items()}
        if keys:
            key = data.draw(st.sampled_from(keys))
            grow = data.draw(st.sampled_from([0.0, 1e-9, 0.5, 1.0, 3.0]))
            usage[key] = usage[key] * (1 + grow) + grow
        assert list(fairshare_factors(pol, usage).items()) == list(exact(pol, usage).items())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 2**20), min_size=2, max_size=8), st.integers(0, 3))
def test_sums_that_tie_only_exactly(parts: list[int], shift: int) -> None:
    """Accounts whose users' usages sum to equal totals (or totals a rounding apart):
    the float sums may differ where the exact ones tie, and the reverse."""
    scale = 0.1 * 2.0**-shift
    accounts = [
        Account(name="a", users=["x", "y"]),
        Account(name="b", users=["z"]),
        Account(name="c", users=["w"]),
    ]
    total = sum(parts) * scale
    usage = {
        ("a", "x"): parts[0] * scale,
        ("a", "y"): sum(parts[1:]) * scale,
        ("b", "z"): total,
        ("c", "w"): math.nextafter(total, math.inf),
    }
    pol = policy(accounts=accounts)
    assert list(fairshare_factors(pol, usage).items()) == list(exact(pol, usage).items())


def test_exact_tie_the_floats_miss() -> None:
    """a (3 shares) used 0.1 + 0.2 and b (1 share) 0.1: exactly 3 times as much, so
    their LFs tie, though the float sum 0.1 + 0.2 is not 3 x 0.1."""
    accounts = [
        Account(name="a", shares=3, users=["x", "y"]),
        Account(name="b", users=["z"]),
        Account(name="c", users=["w"]),
    ]
    usage = {("a", "x"): 0.1, ("a", "y"): 0.2, ("b", "z"): 0.1, ("c", "w"): 0.05}
    pol = policy(accounts=accounts)
    factors = fairshare_factors(pol, usage)
    assert factors == exact(pol, usage)
    # tied accounts are walked merged: z (LF 1) between x (1.5) and y (0.75)
    assert factors[("a", "x")] > factors[("b", "z")] > factors[("a", "y")]


def test_tiny_usage_beside_a_huge_one_is_not_unused() -> None:
    """u3 used 1e-290 beside a sibling's 1e290: its float LF overflows to infinity,
    which must not rank it with the users that used nothing (found by CI)."""
    accounts = [Account(name="a", users=["u1", "u2", "u3"])]
    usage = {("a", "u3"): 1e-290, ("a", "extra"): 1e290}
    pol = policy(accounts=accounts)
    factors = fairshare_factors(pol, usage)
    assert factors == exact(pol, usage)
    assert factors[("a", "u1")] == factors[("a", "u2")] > factors[("a", "u3")]
