"""Classic fair-share: shares, usage, effective usage, the factor, decay.

Tests of classic numbers select `fairshare="classic"`; Fair Tree (the default) is
covered in test_fair_tree.py."""

from __future__ import annotations

import pytest
from sched_factory import job, policy, run, running

from mlrp.models.policy import Account, Weights
from mlrp.scheduler import decay, fairshare_factors, share_tree

FAIRSHARE_ONLY = Weights(age=0, fairshare=10000, job_size=0, qos=0, partition=0)


def test_decay():
    assert decay(100.0, 0, 3600) == 100.0
    assert decay(100.0, 3600, 3600) == pytest.approx(50.0)
    assert decay(100.0, 7200, 3600) == pytest.approx(25.0)
    assert decay(100.0, -5, 3600) == 100.0
    with pytest.raises(ValueError):
        decay(1.0, 1.0, 0.0)


def test_zero_usage_everyone_gets_one():
    pol = policy(accounts=[Account(name="a", users=["x"]), Account(name="b", users=["y"])])
    rows = share_tree(pol, {})
    assert all(r.norm_usage == 0 and r.effective_usage == 0 for r in rows)
    assert fairshare_factors(pol, {}) == {("a", "x"): 1.0, ("b", "y"): 1.0}


def test_nested_tree_by_hand():
    accounts = [
        Account(name="lab"),
        Account(name="vision", parent="lab", shares=3, users=["alice"]),
        Account(name="nlp", parent="lab", users=["bob"]),
        Account(name="other", users=["carol"]),
    ]
    usage = {("vision", "alice"): 60.0, ("nlp", "bob"): 20.0, ("other", "carol"): 20.0}
    rows = share_tree(policy(accounts=accounts, fairshare="classic"), usage)
    table = {(r.account, r.user): r for r in rows}
    assert [(r.account, r.user, r.depth) for r in rows] == [
        ("lab", None, 0),
        ("vision", None, 1),
        ("vision", "alice", 2),
        ("nlp", None, 1),
        ("nlp", "bob", 2),
        ("other", None, 0),
        ("other", "carol", 1),
    ]
    expected = {
        # (account, user): (norm_shares, raw_usage, norm_usage, effective_usage)
        ("lab", None): (0.5, 80, 0.8, 0.8),
        ("vision", None): (0.375, 60, 0.6, 0.75),
        ("vision", "alice"): (0.375, 60, 0.6, 0.75),
        ("nlp", None): (0.125, 20, 0.2, 0.35),
        ("nlp", "bob"): (0.125, 20, 0.2, 0.35),
        ("other", None): (0.5, 20, 0.2, 0.2),
        ("other", "carol"): (0.5, 20, 0.2, 0.2),
    }
    for key, (s, raw, u, ue) in expected.items():
        row = table[key]
        assert row.norm_shares == pytest.approx(s), key
        assert row.raw_usage == pytest.approx(raw), key
        assert row.norm_usage == pytest.approx(u), key
        assert row.effective_usage == pytest.approx(ue), key
        assert row.fairshare == pytest.approx(2 ** (-ue / s)), key
    assert table[("vision", "alice")].fairshare == pytest.approx(0.25)
    assert table[("lab", None)].raw_shares == 1 and table[("vision", None)].raw_shares == 3


def test_users_and_sub_accounts_are_siblings():
    accounts = [Account(name="a", users=["u1", "u2"]), Account(name="b", parent="a", shares=2)]
    rows = {(r.account, r.user): r for r in share_tree(policy(accounts=accounts), {})}
    assert rows[("a", "u1")].norm_shares == pytest.approx(0.25)
    assert rows[("b", None)].norm_shares == pytest.approx(0.5)


def test_unlisted_user_with_usage_is_a_leaf_of_its_account():
    pol = policy(accounts=[Account(name="default", users=["alice"])])
    rows = share_tree(pol, {("default", "zed"): 5.0, ("nowhere", "x"): 3.0})
    assert [(r.account, r.user) for r in rows] == [
        ("default", None),
        ("default", "alice"),
        ("default", "zed"),
    ]
    zed = rows[2]
    assert zed.raw_shares == 1 and zed.norm_shares == pytest.approx(0.5)
    assert zed.norm_usage == 1.0  # usage under an unknown account is outside the tree


def test_parent_cycle_does_not_hang():
    accounts = [Account(name="a", parent="b", users=["x"]), Account(name="b", parent="a")]
    rows = share_tree(policy(accounts=accounts), {("a", "x"): 1.0})
    assert {(r.account, r.user) for r in rows} == {("a", None), ("a", "x"), ("b", None)}


def test_equal_shares_more_usage_ranks_lower():
    accounts = [Account(name="a", users=["alice"]), Account(name="b", users=["bob"])]
    pol = policy(accounts=accounts, weights=FAIRSHARE_ONLY)
    usage = {("a", "alice"): 1000.0, ("b", "bob"): 10.0}
    queue = [job(1, account="a", user="alice"), job(2, account="b", user="bob")]
    full = running(90, gpus=range(8))
    d = run(queue, [full], pol=pol, usage=usage)
    assert d.pending[2].position == 1 and d.pending[1].position == 2
    assert d.pending[2].priority.factors["fairshare"] > d.pending[1].priority.factors["fairshare"]


def test_shares_three_to_one():
    accounts = [
        Account(name="big", shares=3, users=["alice"]),
        Account(name="small", users=["bob"]),
    ]
    pol = policy(accounts=accounts, weights=FAIRSHARE_ONLY, fairshare="classic")
    # Usage in proportion to the shares: both are exactly at their share.
    f = fairshare_factors(pol, {("big", "alice"): 75.0, ("small", "bob"): 25.0})
    assert f[("big", "alice")] == pytest.approx(0.5)
    assert f[("small", "bob")] == pytest.approx(0.5)
    # Equal usage: the 3-share account is under its share, the 1-share one over it.
    usage = {("big", "alice"): 50.0, ("small", "bob"): 50.0}
    f = fairshare_factors(pol, usage)
    assert f[("big", "alice")] == pytest.approx(2 ** (-0.5 / 0.75))
    assert f[("small", "bob")] == pytest.approx(2 ** (-0.5 / 0.25))
    queue = [job(1, account="small", user="bob"), job(2, account="big", user="alice")]
    d = run(queue, [running(90, gpus=range(8))], pol=pol, usage=usage)
    assert d.pending[2].position == 1


def test_pending_user_without_usage_is_a_leaf_in_decide():
    # carol has no usage and is not listed: she still dilutes alice's share.
    pol = policy(
        accounts=[Account(name="default", users=["alice"])],
        weights=FAIRSHARE_ONLY,
        fairshare="classic",
    )
    usage = {("default", "alice"): 10.0}
    queue = [job(1, user="alice"), job(2, user="carol")]
    d = run(queue, [running(90, user="alice", gpus=range(8))], pol=pol, usage=usage)
    assert d.pending[1].priority.factors["fairshare"] == pytest.approx(2 ** (-1 / 0.5))
    assert d.pending[2].priority.factors["fairshare"] == pytest.approx(2 ** (-0.5 / 0.5))
