"""Fair Tree fair-share (Slurm's default): level fair-share, ranking, ties, the report.

Factors below are worked by hand: LF = S / U at each level, users ranked depth first
with siblings in LF order, factor = rank / number of users (ties share the best rank).
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import job, policy, run, running

from mlrp.cli.machine import SHARE_HEADERS, _share_cells
from mlrp.models.policy import Account, Policy, Weights
from mlrp.scheduler import fairshare_factors, share_tree
from mlrp.services import queries

FAIRSHARE_ONLY = Weights(age=0, fairshare=10000, job_size=0, qos=0, partition=0)

# The slurm fair_tree page's example: root => Acct1 => Acct12 => UserA and
# root => Acct1 => Acct16 => UserB.
DOC_TREE = [
    Account(name="Acct1"),
    Account(name="Acct12", parent="Acct1", users=["UserA"]),
    Account(name="Acct16", parent="Acct1", users=["UserB"]),
]
# Two top accounts, each with users of its own.
TWO_LABS = [Account(name="A", users=["a1", "a2"]), Account(name="B", users=["b1", "b2", "b3"])]
# lab -> {vision (3 shares), nlp}, other.
NESTED = [
    Account(name="lab"),
    Account(name="vision", parent="lab", shares=3, users=["alice"]),
    Account(name="nlp", parent="lab", users=["bob"]),
    Account(name="other", users=["carol"]),
]
# Tie rule 2: P and Q tie at the top, so their users are ranked as one level.
MERGED = [Account(name="P", users=["p1", "p2"]), Account(name="Q", users=["q1", "q2"])]
# Tie rule 3: user r and sub-account S are siblings under R.
USER_AND_ACCOUNT = [
    Account(name="R", users=["r"]),
    Account(name="S", parent="R", users=["s1", "s2"]),
]

CASES = [
    pytest.param(
        # Acct16 has the higher LF under the common ancestor Acct1: UserB ranks first.
        DOC_TREE, {("Acct12", "UserA"): 30.0, ("Acct16", "UserB"): 10.0},
        {("Acct12", "UserA"): 0.5, ("Acct16", "UserB"): 1.0},
        id="doc-common-ancestor",
    ),
    pytest.param(
        DOC_TREE, {("Acct12", "UserA"): 10.0, ("Acct16", "UserB"): 30.0},
        {("Acct12", "UserA"): 1.0, ("Acct16", "UserB"): 0.5},
        id="doc-common-ancestor-reversed",
    ),
    pytest.param(
        # A: LF 0.5/0.4 = 1.25 beats B: 0.5/0.6. Every user of A outranks every user of
        # B, even a1 (40 GPU-s) over b3 (none) and b2 (1 GPU-s).
        TWO_LABS,
        {("A", "a1"): 40.0, ("A", "a2"): 0.0, ("B", "b1"): 59.0, ("B", "b2"): 1.0,
         ("B", "b3"): 0.0},
        {("A", "a2"): 1.0, ("A", "a1"): 0.8, ("B", "b3"): 0.6, ("B", "b2"): 0.4,
         ("B", "b1"): 0.2},
        id="higher-account-outranks-all-users-of-lower",
    ),
    pytest.param(
        # other: 0.5/0.2; lab: 0.5/0.8; under lab vision 0.75/(60/70), nlp 0.25/(10/70).
        NESTED, {("vision", "alice"): 60.0, ("nlp", "bob"): 10.0, ("other", "carol"): 20.0},
        {("other", "carol"): 1.0, ("nlp", "bob"): 2 / 3, ("vision", "alice"): 1 / 3},
        id="nested-shares",
    ),
    pytest.param(
        # vision and nlp are exactly at their share (LF 1.0 both): merged, alice and bob
        # (LF 1.0 each in their own account) tie.
        NESTED, {("vision", "alice"): 60.0, ("nlp", "bob"): 20.0, ("other", "carol"): 20.0},
        {("other", "carol"): 1.0, ("vision", "alice"): 2 / 3, ("nlp", "bob"): 2 / 3},
        id="nested-tied-accounts-merge",
    ),
    pytest.param(
        # Tie rule 1: x and y (LF 4/3) share rank 3; z gets rank 1, not 2.
        [Account(name="A", users=["x", "y", "z"])],
        {("A", "x"): 10.0, ("A", "y"): 10.0, ("A", "z"): 20.0},
        {("A", "x"): 1.0, ("A", "y"): 1.0, ("A", "z"): 1 / 3},
        id="tied-users-share-the-best-rank",
    ),
    pytest.param(
        # Tie rule 2: P and Q both at LF 1.0 are merged: p2 (2.5), q1 = q2 (1.0), p1
        # (0.625). Walking P then Q instead would give p1 0.75 and q1 = q2 0.5.
        MERGED,
        {("P", "p1"): 40.0, ("P", "p2"): 10.0, ("Q", "q1"): 25.0, ("Q", "q2"): 25.0},
        {("P", "p2"): 1.0, ("Q", "q1"): 0.75, ("Q", "q2"): 0.75, ("P", "p1"): 0.25},
        id="tied-accounts-merge-children",
    ),
    pytest.param(
        # Tie rule 3: r and S both have LF 1.0 under R; S's best user (s2, no usage)
        # gets r's rank.
        USER_AND_ACCOUNT, {("R", "r"): 10.0, ("S", "s1"): 10.0, ("S", "s2"): 0.0},
        {("R", "r"): 1.0, ("S", "s2"): 1.0, ("S", "s1"): 1 / 3},
        id="user-tied-with-account",
    ),
    pytest.param(
        # X and Y both have LF exactly 1.2 (= (1/5)/(1/6) = (3/5)/(3/6)); in floats X's
        # comes out 1.2000000000000002. Exact arithmetic keeps the tie: x and y share.
        [Account(name="X", users=["x"]), Account(name="Y", shares=3, users=["y"]),
         Account(name="Z", users=["z"])],
        {("X", "x"): 1.0, ("Y", "y"): 3.0, ("Z", "z"): 2.0},
        {("X", "x"): 1.0, ("Y", "y"): 1.0, ("Z", "z"): 1 / 3},
        id="exact-tie-not-split-by-rounding",
    ),
    pytest.param(
        # No usage anywhere: every LF is infinite, everyone ties at 1.0.
        NESTED, {},
        {("other", "carol"): 1.0, ("nlp", "bob"): 1.0, ("vision", "alice"): 1.0},
        id="no-usage-everyone-first",
    ),
    pytest.param(
        # A user without usage (infinite LF) goes before its used siblings.
        [Account(name="A", users=["heavy", "idle", "light"])],
        {("A", "heavy"): 100.0, ("A", "light"): 5.0},
        {("A", "idle"): 1.0, ("A", "light"): 2 / 3, ("A", "heavy"): 1 / 3},
        id="zero-usage-user-first",
    ),
    pytest.param(
        # Shares 3:1 with equal usage: big is under its share (LF 1.5), small over (0.5).
        [Account(name="big", shares=3, users=["alice"]), Account(name="small", users=["bob"])],
        {("big", "alice"): 50.0, ("small", "bob"): 50.0},
        {("big", "alice"): 1.0, ("small", "bob"): 0.5},
        id="shares-three-to-one",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("accounts", "usage", "expected"), CASES)
def test_fair_tree_factors(
    accounts: list[Account],
    usage: dict[tuple[str, str], float],
    expected: dict[tuple[str, str], float],
) -> None:
    factors = fairshare_factors(policy(accounts=accounts), usage)
    assert factors == pytest.approx(expected)


def test_fair_tree_is_the_default() -> None:
    assert Policy().fairshare == "fair_tree"
    usage = {("A", "x"): 10.0, ("A", "y"): 10.0, ("A", "z"): 20.0}
    accounts = [Account(name="A", users=["x", "y", "z"])]
    assert fairshare_factors(Policy(accounts=accounts), usage)[("A", "z")] == pytest.approx(1 / 3)


def test_doc_example_level_fs_in_the_report() -> None:
    """sshare -l: the LF of every node at its own level; UserB's higher FairShare is
    explained by Acct16's higher LF under the common ancestor Acct1."""
    usage = {("Acct12", "UserA"): 30.0, ("Acct16", "UserB"): 10.0}
    rows = {(r.account, r.user): r for r in share_tree(policy(accounts=DOC_TREE), usage)}
    assert rows[("Acct1", None)].level_fs == pytest.approx(1.0)  # alone at the top
    assert rows[("Acct12", None)].level_fs == pytest.approx(0.5 / 0.75)
    assert rows[("Acct16", None)].level_fs == pytest.approx(0.5 / 0.25)
    assert rows[("Acct12", "UserA")].level_fs == pytest.approx(1.0)
    assert rows[("Acct16", "UserB")].fairshare > rows[("Acct12", "UserA")].fairshare


def test_report_under_fair_tree() -> None:
    usage = {("vision", "alice"): 60.0, ("nlp", "bob"): 10.0}
    rows = share_tree(policy(accounts=NESTED), usage)
    # Tree order (not rank order), as before.
    assert [(r.account, r.user) for r in rows] == [
        ("lab", None), ("vision", None), ("vision", "alice"), ("nlp", None),
        ("nlp", "bob"), ("other", None), ("other", "carol"),
    ]  # fmt: skip
    table = {(r.account, r.user): r for r in rows}
    # User rows carry the factor the scheduler uses; accounts have none under Fair Tree.
    factors = fairshare_factors(policy(accounts=NESTED), usage)
    for (account, user), row in table.items():
        if user is None:
            assert math.isnan(row.fairshare), account
        else:
            assert row.fairshare == factors[(account, user)]
    assert factors[("other", "carol")] == 1.0
    # LF: inf with no usage at its level; classic columns unchanged.
    assert table[("other", None)].level_fs == math.inf
    assert table[("other", "carol")].level_fs == math.inf
    assert table[("lab", None)].level_fs == pytest.approx(0.5)
    assert table[("nlp", None)].level_fs == pytest.approx(0.25 / (10 / 70))
    assert table[("vision", None)].norm_shares == pytest.approx(0.375)
    assert table[("vision", "alice")].norm_usage == pytest.approx(60 / 70)


def test_classic_still_selectable_and_unchanged() -> None:
    usage = {("vision", "alice"): 60.0, ("nlp", "bob"): 20.0, ("other", "carol"): 20.0}
    pol = policy(accounts=NESTED, fairshare="classic")
    factors = fairshare_factors(pol, usage)
    # 2^(-UE/S) with UE, S worked out in test_sched_fairshare.test_nested_tree_by_hand.
    assert factors == pytest.approx(
        {
            ("vision", "alice"): 2 ** (-0.75 / 0.375),
            ("nlp", "bob"): 2 ** (-0.35 / 0.125),
            ("other", "carol"): 2 ** (-0.2 / 0.5),
        }
    )
    rows = share_tree(pol, usage)
    assert all(not math.isnan(r.fairshare) for r in rows)  # accounts keep a factor
    lab = next(r for r in rows if r.account == "lab")
    assert lab.fairshare == pytest.approx(2 ** (-0.8 / 0.5))
    assert lab.level_fs == pytest.approx(0.5 / 0.8)  # LF shown under classic too


def test_zero_usage_user_goes_first_in_decide() -> None:
    # carol is queued last and unlisted, with no usage: she ranks first (factor 1.0).
    pol = policy(accounts=[Account(name="default", users=["alice", "bob"])],
                 weights=FAIRSHARE_ONLY)  # fmt: skip
    usage = {("default", "alice"): 10.0, ("default", "bob"): 30.0}
    queue = [job(1, user="bob"), job(2, user="alice"), job(3, user="carol")]
    d = run(queue, [running(90, user="alice", gpus=range(8))], pol=pol, usage=usage)
    assert [d.pending[i].position for i in (3, 2, 1)] == [1, 2, 3]
    assert d.pending[3].priority.factors["fairshare"] == 1.0
    assert d.pending[2].priority.factors["fairshare"] == pytest.approx(2 / 3)
    assert d.pending[1].priority.factors["fairshare"] == pytest.approx(1 / 3)


def test_account_with_less_usage_goes_first_in_decide() -> None:
    accounts = [
        Account(name="big", shares=3, users=["alice"]),
        Account(name="small", users=["bob"]),
    ]
    pol = policy(accounts=accounts, weights=FAIRSHARE_ONLY)
    usage = {("big", "alice"): 50.0, ("small", "bob"): 50.0}
    queue = [job(1, account="small", user="bob"), job(2, account="big", user="alice")]
    d = run(queue, [running(90, gpus=range(8))], pol=pol, usage=usage)
    assert d.pending[2].position == 1 and d.pending[1].position == 2


def test_share_json_and_table_have_no_infinity() -> None:
    """The API's rows are valid JSON (inf and NaN become null) and the table prints
    LEVEL_FS inf for no usage and a blank FAIRSHARE for Fair Tree accounts."""
    usage = {("vision", "alice"): 60.0}
    platform = SimpleNamespace(
        policy=policy(accounts=NESTED), store=SimpleNamespace(usage=lambda: usage)
    )
    rows = queries.shares(platform)  # type: ignore[arg-type]
    rows = json.loads(json.dumps(rows, allow_nan=False))
    by_key = {(r["account"], r["user"]): r for r in rows}
    assert by_key[("other", "carol")]["level_fs"] is None
    assert by_key[("lab", None)]["fairshare"] is None
    assert by_key[("vision", "alice")]["fairshare"] == pytest.approx(1 / 3)
    assert by_key[("lab", None)]["level_fs"] == pytest.approx(0.5)
    assert SHARE_HEADERS[-1] == "LEVEL_FS"
    carol = _share_cells(by_key[("other", "carol")])
    assert carol[-2:] == ["1.000000", "inf"]
    lab = _share_cells(by_key[("lab", None)])
    assert lab[-2:] == ["", "0.500000"]


# --- properties ----------------------------------------------------------------------

USERS = ("u1", "u2", "u3", "u4")
USAGE = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 10.0]),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)


@st.composite
def trees(draw: st.DrawFn) -> tuple[Policy, dict[tuple[str, str], float]]:
    """Up to 5 accounts, each under the root or an earlier account, with random users,
    shares and usage (small values often, so that ties happen)."""
    names = [f"a{i}" for i in range(draw(st.integers(1, 5)))]
    accounts = []
    usage: dict[tuple[str, str], float] = {}
    for i, name in enumerate(names):
        users = draw(st.lists(st.sampled_from(USERS), max_size=3, unique=True))
        parent = draw(st.sampled_from([None, *names[:i]]))
        accounts.append(
            Account(name=name, parent=parent, shares=draw(st.integers(1, 3)), users=users)
        )
        for user in users:
            usage[(name, user)] = draw(USAGE)
    return policy(accounts=accounts), usage


@settings(max_examples=300, deadline=None)
@given(trees())
def test_factors_are_ranks_in_0_1(tree: tuple[Policy, dict[tuple[str, str], float]]) -> None:
    pol, usage = tree
    factors = fairshare_factors(pol, usage)
    assert set(factors) == set(usage)
    n = len(factors)
    for value in factors.values():
        assert 0.0 < value <= 1.0
        assert value * n == pytest.approx(round(value * n))  # a rank over n
    if factors:
        assert max(factors.values()) == 1.0


@settings(max_examples=300, deadline=None)
@given(trees(), st.data())
def test_more_usage_never_gains_rank(
    tree: tuple[Policy, dict[tuple[str, str], float]], data: st.DataObject
) -> None:
    """A user whose usage grows never gets a higher factor, and never overtakes a user
    (sibling or not) whose usage did not change."""
    pol, usage = tree
    if not usage:
        return
    grown = data.draw(st.sampled_from(sorted(usage)))
    more = dict(usage)
    more[grown] += data.draw(st.floats(min_value=1e-3, max_value=1e6))
    before, after = fairshare_factors(pol, usage), fairshare_factors(pol, more)
    assert after[grown] <= before[grown]
    for other in usage:
        if other != grown and before[other] >= before[grown]:
            assert after[other] >= after[grown], other


@settings(max_examples=200, deadline=None)
@given(trees())
def test_listing_order_does_not_matter(tree: tuple[Policy, dict[tuple[str, str], float]]) -> None:
    """Ties get equal ranks and tied accounts merge, so the order in which accounts and
    users are listed never changes a factor."""
    pol, usage = tree
    accounts = [a.model_copy(update={"users": list(reversed(a.users))}) for a in pol.accounts]
    shuffled = policy(accounts=list(reversed(accounts)))
    assert fairshare_factors(shuffled, usage) == fairshare_factors(pol, usage)
