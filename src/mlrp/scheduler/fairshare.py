"""Fair-share over the account tree: Slurm's Fair Tree (the default) or classic.

The tree, shared by both algorithms:

* Accounts with `parent=None` (or an unknown parent) are children of the root. Users and
  sub-accounts of one account are siblings, as in Slurm; a user counts 1 raw share.
  A user with usage under an account that does not list it is a leaf of that account.

Fair Tree (`policy.fairshare == "fair_tree"`, Slurm's default since 19.05):

* Level fair-share LF = S / U of every node, from its own level only: S = its raw
  shares / the raw shares of it and all its siblings (every sibling counts, used or
  not: Fair Tree ranks every user association, active or not); U = its raw usage / the
  raw usage of it and its siblings (0 when they have none). U == 0 gives LF = inf.
  LF is computed exactly (rational arithmetic on the float usages), so two siblings tie
  exactly when their S / U are equal and float rounding never splits or makes a tie.
* The tree is walked depth first, each node's children visited by LF, highest first
  (at equal LF users before accounts, then tree order). Users are ranked in the order
  visited: with N user leaves the first gets rank N, and each user's factor is
  rank / N, so the first visited user gets 1.0 and the last 1/N.
* Ties: a user whose LF equals the previous sibling's keeps that sibling's rank (a run
  of tied users shares the best rank; the next user gets N minus the users before it,
  as in competition ranking). Sibling accounts with equal LF are merged: their
  children are pooled (each keeping its LF from its own parent) and walked as one
  level. An account tied with the user just before it starts its walk tied, so its
  first user gets that user's rank.

Classic (`policy.fairshare == "classic"`):

* Normalized shares S: down the tree, each node's raw shares divided by the raw shares
  of it and its siblings, multiplied by its parent's S (the root's S is 1).
* Normalized usage U: a node's raw usage (its subtree's) over the root's (0 when the
  total is 0).
* Effective usage UE (Slurm's classic formula): for children of the root UE = U, below
  UE = U + (UE_parent - U) * shares / shares_of_self_and_siblings.
* Fair-share factor F = 2^(-UE/S).

The share report (`share_tree`) shows the classic S, U and UE under both algorithms,
the level fair-share of every node, and the factor of the active algorithm: under Fair
Tree account rows have no factor (NaN), since Fair Tree ranks users only.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from mlrp.models.policy import Account, Policy
from mlrp.scheduler.policy_cache import per_policy

# A node of the tree: (account, None) for an account, (account, user) for a user leaf.
Node = tuple[str, str | None]
K = TypeVar("K")


class LevelFs:
    """A level fair-share S / U, exact: `numerator / denominator` of integers (the
    denominator 0 when the node has no usage at its level: infinite). Compared by its
    correctly rounded float `value` first, exactly only when those are equal, so that
    float rounding never splits or makes a tie and sorting stays cheap."""

    __slots__ = ("denominator", "numerator", "value")

    def __init__(self, numerator: int, denominator: int) -> None:
        self.numerator = numerator
        self.denominator = denominator
        try:
            self.value = numerator / denominator if denominator else math.inf
        except OverflowError:
            self.value = math.inf

    def _cross(self, other: LevelFs) -> tuple[int, int]:
        return self.numerator * other.denominator, other.numerator * self.denominator

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LevelFs):
            return NotImplemented
        if self.value != other.value:
            return False
        mine, theirs = self._cross(other)
        return mine == theirs

    def __lt__(self, other: LevelFs) -> bool:
        if self.value != other.value:
            return self.value < other.value
        mine, theirs = self._cross(other)
        return mine < theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LevelFs({self.numerator}, {self.denominator})"


@dataclass(frozen=True, slots=True)
class ShareRow:
    """One line of the sshare-like report; `user` is None for account rows.

    `fairshare` is the factor the scheduler uses (NaN for account rows under Fair Tree);
    `level_fs` is S / U at the node's level (math.inf when its level usage is 0)."""

    account: str
    user: str | None
    depth: int  # children of the root have depth 0, their users depth 1, ...
    raw_shares: int
    norm_shares: float
    raw_usage: float
    norm_usage: float
    effective_usage: float
    fairshare: float
    level_fs: float


def decay(usage: float, elapsed: float, half_life: float) -> float:
    """Usage after `elapsed` seconds of exponential decay: usage * 2^(-elapsed/half_life).

    A negative `elapsed` (a clock stepping back) decays nothing.
    """
    if half_life <= 0:
        raise ValueError("half_life must be positive")
    return usage * math.pow(2.0, -max(elapsed, 0.0) / half_life)


def _factor(effective_usage: float, norm_shares: float) -> float:
    if norm_shares <= 0:
        return 0.0
    return math.pow(2.0, -effective_usage / norm_shares)


class _Skeleton:
    """What the tree takes from the policy alone: built once per policy (see _skeleton),
    since the daemon and the simulator pass the same policy to every pass."""

    def __init__(self, policy: Policy) -> None:
        self.accounts: dict[str, Account] = {}
        for account in policy.accounts:
            self.accounts.setdefault(account.name, account)
        self.children: dict[str | None, list[str]] = {}
        for name, account in self.accounts.items():
            parent = account.parent
            if parent not in self.accounts or parent == name:
                parent = None
            self.children.setdefault(parent, []).append(name)
        self.users = {name: list(dict.fromkeys(a.users)) for name, a in self.accounts.items()}
        # Top-level accounts in policy order; accounts caught in a parent cycle (never
        # reached from the root) are treated as children of the root.
        self.top: list[str] = []
        seen: set[str] = set()
        for name in self.children.get(None, []):
            self.top.append(name)
            self._mark(name, seen)
        for name in self.accounts:
            if name not in seen:
                self.top.append(name)
                self._mark(name, seen)
        top = set(self.top)
        self.subs = {
            name: [c for c in self.children.get(name, []) if c not in top] for name in self.accounts
        }

    def _mark(self, name: str, seen: set[str]) -> None:
        stack = [name]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.children.get(current, []))


_skeleton = per_policy(_Skeleton)


class _Tree:
    """The account tree of a policy, with every user that has usage as a leaf."""

    def __init__(self, policy: Policy, usage: Mapping[tuple[str, str], float]) -> None:
        skeleton = _skeleton(policy)
        self.accounts = skeleton.accounts
        self.top = skeleton.top
        self._subs = skeleton.subs
        self.users = skeleton.users
        extra: dict[str, set[str]] = {}
        self.usage: dict[tuple[str, str], float] = {}
        for (account_name, user), value in usage.items():
            users = self.users.get(account_name)
            if users is None:
                continue  # usage under an account the policy lacks: outside the tree
            self.usage[(account_name, user)] = max(float(value), 0.0)
            if user not in users:
                extra.setdefault(account_name, set()).add(user)
        if extra:
            self.users = dict(self.users)  # the skeleton's lists stay as the policy has them
            for account_name, added in extra.items():
                listed = self.users[account_name]
                self.users[account_name] = [*listed, *sorted(added - set(listed))]

    def sub_accounts(self, name: str) -> list[str]:
        return self._subs[name]

    @functools.cached_property
    def raw_usage(self) -> dict[str, float]:
        """Each account's raw usage: its users' and its sub-accounts'."""
        totals: dict[str, float] = {}
        for name in self.top:
            self._sum_usage(name, set(), totals)
        return totals

    def _sum_usage(self, name: str, path: set[str], totals: dict[str, float]) -> float:
        path = path | {name}
        total = sum(self.usage.get((name, user), 0.0) for user in self.users[name])
        for child in self.sub_accounts(name):
            if child not in path:
                total += self._sum_usage(child, path, totals)
        totals[name] = total
        return total


def _exact_all(values: Mapping[K, float]) -> dict[K, int]:
    """Usages as integers in one common unit, 2^-k for the smallest k that makes every
    one whole (not positive or NaN: 0; inf: the largest float), so that they are summed
    and compared exactly, with integers as small as the values allow."""
    ratios: dict[K, tuple[int, int]] = {}
    for node, value in values.items():
        if value > 0:
            numerator, denominator = min(value, sys.float_info.max).as_integer_ratio()
            ratios[node] = numerator, denominator.bit_length() - 1  # a power of two
    k = max((shift for _, shift in ratios.values()), default=0)
    exact = dict.fromkeys(values, 0)
    exact.update({node: n << (k - shift) for node, (n, shift) in ratios.items()})
    return exact


class _Levels:
    """The tree as nodes (users first, then sub-accounts, under each account; `None` is
    the root), each node's exact raw usage, and its level fair-share S / U."""

    def __init__(self, tree: _Tree) -> None:
        self.tree = tree
        self.children: dict[Node | None, list[Node]] = {None: []}
        self.usage: dict[Node, int] = {}  # exact, see _exact_all
        self.leaf_usage = _exact_all(tree.usage)
        for name in tree.top:
            self._add(name, frozenset({name}))
            self.children[None].append((name, None))
        self.users = sum(1 for node in self.usage if node[1] is not None)
        self.level_fs: dict[Node, LevelFs] = {}
        for siblings in self.children.values():
            self._set_level(siblings)

    def _add(self, name: str, path: frozenset[str]) -> int:
        kids: list[Node] = []
        total = 0
        leaf_usage, usage = self.leaf_usage, self.usage
        for user in self.tree.users[name]:
            leaf = (name, user)
            usage[leaf] = value = leaf_usage.get(leaf, 0)
            total += value
            kids.append(leaf)
        for sub in self.tree.sub_accounts(name):
            if sub not in path:
                total += self._add(sub, path | {sub})
                kids.append((sub, None))
        self.children[(name, None)] = kids
        self.usage[(name, None)] = total
        return total

    def shares(self, node: Node) -> int:
        return 1 if node[1] is not None else self.tree.accounts[node[0]].shares

    def _set_level(self, siblings: list[Node]) -> None:
        """LF = S / U for each of `siblings`; inf when U == 0 (S > 0: shares are >= 1)."""
        shares = [self.shares(node) for node in siblings]
        usages = [self.usage[node] for node in siblings]
        total_shares, total_usage = sum(shares), sum(usages)
        for node, share, usage in zip(siblings, shares, usages, strict=True):
            # S / U = (share / total_shares) / (usage / total_usage)
            self.level_fs[node] = LevelFs(share * total_usage, total_shares * usage)


class _Ranking:
    """Slurm's Fair Tree walk: users ranked depth first, siblings by level fair-share."""

    def __init__(self, levels: _Levels) -> None:
        self.levels = levels
        self.rank = levels.users  # the rank the last user got (ties keep it)
        self.next_rank = levels.users  # the rank the next user gets when not tied
        self.factors: dict[tuple[str, str], float] = {}
        self._walk(levels.children[None], tied_in=False)

    def _sorted(self, nodes: list[Node]) -> list[Node]:
        """Highest LF first; at equal LF users before accounts, then tree order (the sort
        is stable, reversed too)."""
        lf = self.levels.level_fs
        return sorted(
            nodes, key=lambda node: (lf[node].value, lf[node], node[1] is not None), reverse=True
        )

    def _walk(self, siblings: list[Node], *, tied_in: bool) -> None:
        """Visit `siblings` in LF order. `tied_in`: the first one ties with the user
        visited just before (its parent account tied with that user)."""
        lf = self.levels.level_fs
        order = self._sorted(siblings)
        i = 0
        while i < len(order):
            node = order[i]
            tied = tied_in if i == 0 else lf[node] == lf[order[i - 1]]
            account, user = node
            if user is not None:
                self._rank_user(account, user, tied=tied)
                i += 1
                continue
            end = i + 1  # sibling accounts tied with this one are walked together
            while end < len(order) and order[end][1] is None and lf[order[end]] == lf[node]:
                end += 1
            pooled = [child for merged in order[i:end] for child in self.levels.children[merged]]
            self._walk(pooled, tied_in=tied)
            i = end

    def _rank_user(self, account: str, user: str, *, tied: bool) -> None:
        if not tied:
            self.rank = self.next_rank
        self.factors[(account, user)] = self.rank / self.levels.users
        self.next_rank -= 1


_EPS = 2.0**-53  # float64 unit roundoff
# Usages outside [_TINY, _HUGE] (and shares above _MAX_SHARES) take the exact walk: the
# float walk's error bound below needs normal, finite products and quotients.
_TINY = 1e-290
_HUGE = 1e290
_MAX_SHARES = 2**53  # floats hold every integer up to here


class _FloatRanking:
    """Fair Tree's ranking (as _Ranking) for one tree shape, reused pass after pass:
    built for a policy and a set of usage keys (which fix the tree's nodes), then
    `factors(usage)` for any usages with those keys.

    Level fair-shares are computed in floats, and compared exactly only where floats
    cannot tell: a node's usage is a float sum of at most L exact leaf usages (L: the
    user leaves), so its relative error is at most (L - 1) eps, and LF = (S_i * T) /
    (S * U_i) adds three roundings: at most (2L + 2) eps in all (eps = 2^-53), shares
    being exact in floats. Two float LFs further apart than `rtol` (over twice that)
    are therefore ordered as the exact ones; a run of siblings closer than that (a near
    tie) is sorted, and its ties found, with the exact LevelFs of _Levels."""

    def __init__(self, tree: _Tree) -> None:
        levels = _Levels(tree)
        nodes = list(levels.usage)
        index = {node: i for i, node in enumerate(nodes)}
        self.nodes = nodes
        self.is_user = [node[1] is not None for node in nodes]
        self.share = [levels.shares(node) for node in nodes]
        self.users = levels.users
        # user leaves: (node index, (account, user))
        self.leaves = [(i, (a, u)) for i, (a, u) in enumerate(nodes) if u is not None]
        self.keys = dict(self.leaves)
        # every sibling list: parent index (-1: the root), children, their shares' sum
        self.levels = [
            (-1 if parent is None else index[parent], [index[c] for c in kids])
            for parent, kids in levels.children.items()
        ]
        self.total_shares = [sum(self.share[c] for c in kids) for _, kids in self.levels]
        # (children, their shares' sum) of the sibling lists of two or more, and of the
        # others: an only child's LF orders nothing unless the walk pools it with
        # cousins (see factors)
        self.groups = [
            (kids, total)
            for (_, kids), total in zip(self.levels, self.total_shares, strict=True)
            if len(kids) > 1
        ]
        self.only_children = [
            (kids, total)
            for (_, kids), total in zip(self.levels, self.total_shares, strict=True)
            if len(kids) == 1
        ]
        self.children = {parent: kids for parent, kids in self.levels}
        # accounts, children before parents: _Levels adds an account after its subtree
        self.accounts = [
            (index[node], self.children[index[node]]) for node in nodes if node[1] is None
        ]
        self.parent_level = [0] * len(nodes)
        for level, (_, kids) in enumerate(self.levels):
            for c in kids:
                self.parent_level[c] = level
        self.rtol = 16 * (len(self.leaves) + 4) * _EPS
        self.fits = max(self.total_shares, default=0) <= _MAX_SHARES
        # the sibling orders the last walk sorted, and its factors, when it met no near
        # tie: the factors depend on those orders alone (see factors)
        self._last: tuple[list[list[int]], dict[tuple[str, str], float]] | None = None

    def factors(
        self, usage: Mapping[tuple[str, str], float]
    ) -> dict[tuple[str, str], float] | None:
        """The factors of _Ranking for these usages; None where the floats could not
        be trusted (a usage outside [_TINY, _HUGE], or a level fair-share that
        overflows): the caller then walks exactly."""
        if not self.fits:
            return None
        value = [0.0] * len(self.nodes)
        get = usage.get
        for i, key in self.leaves:
            raw = get(key)
            if raw is not None:
                v = float(raw)
                if v > 0:  # NaN and negatives count 0, as in _Tree and _exact_all
                    if not _TINY <= v <= _HUGE:
                        return None
                    value[i] = v
        for i, kids in self.accounts:  # children before parents
            value[i] = value[kids[0]] if len(kids) == 1 else sum([value[c] for c in kids])
        lf = [math.inf] * len(self.nodes)
        if not self._level_fs(self.groups, value, lf):
            return None
        if self._last is not None and all(self._apart(order, lf) for order in self._last[0]):
            return dict(self._last[1])  # every level sorts as last time: same ranks
        walk = _FloatWalk(self, value, lf)
        walk.walk(self.children[-1], tied_in=False)
        self._last = (walk.orders, dict(walk.factors)) if walk.clean else None
        return walk.factors

    def _level_fs(
        self, levels: list[tuple[list[int], int]], value: list[float], lf: list[float]
    ) -> bool:
        """Fill in `lf` the level fair-share of every child of `levels` with usage;
        False where a float overflows (the caller then walks exactly)."""
        share = self.share
        for kids, total_shares in levels:
            total = sum([value[c] for c in kids])
            if total > _HUGE:
                return False
            for c in kids:
                u = value[c]
                if u > 0:
                    level_fs = share[c] * total / (total_shares * u)
                    if level_fs == math.inf:  # overflowed (tiny usage beside huge)
                        return False
                    lf[c] = level_fs
        return True

    def _apart(self, order: list[int], lf: list[float]) -> bool:
        """Whether `order` is sorted by these LFs with no two near (as _FloatWalk._sorted
        judges a near tie): sorting would then give this order, with no tie."""
        rtol = self.rtol
        for a, b in itertools.pairwise(order):
            high, low = lf[a], lf[b]
            if high == low or (high < math.inf and high - low <= rtol * high):
                return False
        return True


class _FloatWalk:
    """One walk of a _FloatRanking: _Ranking's, with float LFs and exact near ties."""

    def __init__(self, ranking: _FloatRanking, value: list[float], lf: list[float]) -> None:
        self.ranking = ranking
        self.value = value
        self.lf = lf
        self.exact: list[LevelFs] | None = None  # built on the first near tie
        self.rank = ranking.users
        self.next_rank = ranking.users
        self.factors: dict[tuple[str, str], float] = {}
        self.orders: list[list[int]] = []  # every sibling order sorted, as walked
        self.clean = True  # no near tie met: the ranks follow from `orders` alone
        self.only_children_lf = False  # see _only_children_lf

    def _exact_lf(self) -> list[LevelFs]:
        """Every node's LevelFs as _Levels computes it, from the same usages."""
        if self.exact is None:
            ranking = self.ranking
            usage = [0] * len(ranking.nodes)
            leaves = _exact_all({i: self.value[i] for i, _ in ranking.leaves})
            for i, exact in leaves.items():
                usage[i] = exact
            for i, kids in ranking.accounts:
                usage[i] = sum(usage[c] for c in kids)
            self.exact = [LevelFs(0, 0)] * len(ranking.nodes)
            for (_, kids), total_shares in zip(ranking.levels, ranking.total_shares, strict=True):
                total = sum(usage[c] for c in kids)
                for c in kids:
                    self.exact[c] = LevelFs(ranking.share[c] * total, total_shares * usage[c])
        return self.exact

    def _sorted(self, nodes: list[int]) -> tuple[list[int], list[bool]]:
        """_Ranking._sorted's order, and for each node whether its LF equals the one
        before it."""
        if len(nodes) == 1:
            return nodes, [False]
        lf, is_user, rtol = self.lf, self.ranking.is_user, self.ranking.rtol
        order = sorted(nodes, key=lambda i: (lf[i], is_user[i]), reverse=True)
        self.orders.append(order)
        tied = [False] * len(order)
        start = 0
        for end in range(1, len(order) + 1):
            if end < len(order):
                high, low = lf[order[end - 1]], lf[order[end]]
                if high == low or (high < math.inf and high - low <= rtol * high):
                    continue  # near: same run
            if end - start > 1:
                self.clean = False
                if lf[order[start]] == math.inf:  # no usage: all tied, users first
                    tied[start + 1 : end] = [True] * (end - start - 1)
                else:
                    self._resolve(nodes, order, tied, start, end)
            start = end
        return order, tied

    def _resolve(
        self, nodes: list[int], order: list[int], tied: list[bool], start: int, end: int
    ) -> None:
        """Sort the near tie order[start:end] exactly, in place."""
        exact, is_user = self._exact_lf(), self.ranking.is_user
        position = {node: p for p, node in enumerate(nodes)}
        run = sorted(order[start:end], key=position.__getitem__)
        run.sort(key=lambda i: (exact[i], is_user[i]), reverse=True)
        order[start:end] = run
        for p in range(start + 1, end):
            tied[p] = exact[order[p]] == exact[order[p - 1]]

    def walk(self, siblings: list[int], *, tied_in: bool) -> None:
        """_Ranking._walk over node indices."""
        ranking = self.ranking
        is_user, keys = ranking.is_user, ranking.keys
        order, tied = self._sorted(siblings)
        i = 0
        while i < len(order):
            node = order[i]
            tie = tied_in if i == 0 else tied[i]
            if is_user[node]:
                self._rank_user(keys[node], tied=tie)
                i += 1
                continue
            end = i + 1  # sibling accounts tied with this one are walked together
            while end < len(order) and not is_user[order[end]] and tied[end]:
                end += 1
            if end - i == 1:
                pooled = ranking.children[node]
            else:  # cousins sorted together: only children's LFs count too
                pooled = [child for merged in order[i:end] for child in ranking.children[merged]]
                self._only_children_lf()
            if len(pooled) == 1 and is_user[pooled[0]]:  # the usual account of one user
                self._rank_user(keys[pooled[0]], tied=tie)
            else:
                self.walk(pooled, tied_in=tie)
            i = end

    def _only_children_lf(self) -> None:
        """Fill in the LFs of only children, which only a pooled walk reads. They never
        overflow where the other levels did not: an only child's level total is its
        own usage, bounded where its own children were summed (or a leaf's), and its LF
        about its share over the level's shares."""
        if not self.only_children_lf:
            self.ranking._level_fs(self.ranking.only_children, self.value, self.lf)
            self.only_children_lf = True

    def _rank_user(self, key: tuple[str, str], *, tied: bool) -> None:
        if not tied:
            self.rank = self.next_rank
        self.factors[key] = self.rank / self.ranking.users
        self.next_rank -= 1


def _classic_rows(tree: _Tree, levels: _Levels | None) -> list[ShareRow]:
    """The report in tree order with classic S, U, UE and factor, and each node's LF
    (NaN without `levels`)."""
    total = sum(tree.raw_usage[name] for name in tree.top)
    rows: list[ShareRow] = []

    def norm(value: float) -> float:
        return value / total if total > 0 else 0.0

    def level_fs(account: str, user: str | None) -> float:
        return math.nan if levels is None else levels.level_fs[(account, user)].value

    def visit(
        name: str, depth: int, parent_s: float, parent_ue: float | None, level: int, path: set[str]
    ) -> None:
        account = tree.accounts[name]
        s = parent_s * account.shares / level
        u = norm(tree.raw_usage[name])
        ue = u if parent_ue is None else u + (parent_ue - u) * account.shares / level
        rows.append(
            ShareRow(
                name, None, depth, account.shares, s, tree.raw_usage[name], u, ue,
                _factor(ue, s), level_fs(name, None),
            )
        )  # fmt: skip
        subs = [c for c in tree.sub_accounts(name) if c not in path]
        users = tree.users[name]
        child_level = len(users) + sum(tree.accounts[c].shares for c in subs)
        for user in users:
            raw = tree.usage.get((name, user), 0.0)
            user_s = s / child_level
            user_u = norm(raw)
            user_ue = user_u + (ue - user_u) / child_level
            rows.append(
                ShareRow(
                    name, user, depth + 1, 1, user_s, raw, user_u, user_ue,
                    _factor(user_ue, user_s), level_fs(name, user),
                )
            )  # fmt: skip
        for child in subs:
            visit(child, depth + 1, s, ue, child_level, path | {child})

    top_level = sum(tree.accounts[name].shares for name in tree.top)
    for name in tree.top:
        visit(name, 0, 1.0, None, top_level, {name})
    return rows


def share_tree(policy: Policy, usage: Mapping[tuple[str, str], float]) -> list[ShareRow]:
    """The sshare-like report: accounts in tree order, each followed by its users, then
    its sub-accounts. A user with usage under an account that does not list it (the open
    default account) is a leaf of that account with 1 share. `fairshare` is the factor of
    `policy.fairshare`; under Fair Tree account rows get NaN (only users are ranked)."""
    tree = _Tree(policy, usage)
    levels = _Levels(tree)
    rows = _classic_rows(tree, levels)
    if policy.fairshare == "classic":
        return rows
    factors = _Ranking(levels).factors
    return [
        replace(row, fairshare=math.nan if row.user is None else factors[(row.account, row.user)])
        for row in rows
    ]


def fairshare_factors(
    policy: Policy, usage: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    """(account, user) -> fair-share factor F in [0, 1], for every user leaf of the tree,
    by the policy's algorithm (Fair Tree: rank / number of users; classic: 2^(-UE/S))."""
    if policy.fairshare == "classic":
        rows = _classic_rows(_Tree(policy, usage), None)
        return {(row.account, row.user): row.fairshare for row in rows if row.user is not None}
    factors = _float_ranking(policy, usage).factors(usage)
    if factors is None:
        factors = _Ranking(_Levels(_Tree(policy, usage))).factors
    return factors


_FLOAT_RANKINGS: list[tuple[Policy, set[tuple[str, str]], _FloatRanking]] = []


def _float_ranking(policy: Policy, usage: Mapping[tuple[str, str], float]) -> _FloatRanking:
    """The _FloatRanking of this policy and these usage keys, from a small cache: the
    daemon and the simulator pass the same policy, and mostly the same keys, every pass."""
    for cached, keys, ranking in _FLOAT_RANKINGS:
        if cached is policy and usage.keys() == keys:
            return ranking
    keys = set(usage)
    ranking = _FloatRanking(_Tree(policy, dict.fromkeys(keys, 0.0)))
    _FLOAT_RANKINGS.insert(0, (policy, keys, ranking))
    del _FLOAT_RANKINGS[4:]
    return ranking
