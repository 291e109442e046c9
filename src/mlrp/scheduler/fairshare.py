"""Classic Slurm fair-share over the account tree.

* Normalized shares S: down the tree, each node's raw shares divided by the raw shares
  of it and its siblings, multiplied by its parent's S (the root's S is 1). Accounts with
  `parent=None` (or an unknown parent) are children of the root. Users and sub-accounts
  of one account are siblings, as in Slurm; a user counts 1 raw share.
* Normalized usage U: a node's raw usage (its subtree's) over the root's (0 when the
  total is 0).
* Effective usage UE (Slurm's classic formula): for children of the root UE = U, below
  UE = U + (UE_parent - U) * shares / shares_of_self_and_siblings.
* Fair-share factor F = 2^(-UE/S).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlrp.models.policy import Account, Policy


@dataclass(frozen=True, slots=True)
class ShareRow:
    """One line of the sshare-like report; `user` is None for account rows."""

    account: str
    user: str | None
    depth: int  # children of the root have depth 0, their users depth 1, ...
    raw_shares: int
    norm_shares: float
    raw_usage: float
    norm_usage: float
    effective_usage: float
    fairshare: float


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


class _Tree:
    """The account tree of a policy, with every user that has usage as a leaf."""

    def __init__(self, policy: Policy, usage: Mapping[tuple[str, str], float]) -> None:
        self.accounts: dict[str, Account] = {}
        for account in policy.accounts:
            self.accounts.setdefault(account.name, account)
        self.children: dict[str | None, list[str]] = {}
        for name, account in self.accounts.items():
            parent = account.parent
            if parent not in self.accounts or parent == name:
                parent = None
            self.children.setdefault(parent, []).append(name)
        self.users: dict[str, list[str]] = {}
        for name, account in self.accounts.items():
            self.users[name] = list(dict.fromkeys(account.users))
        extra: dict[str, set[str]] = {}
        self.usage: dict[tuple[str, str], float] = {}
        for (account_name, user), value in usage.items():
            if account_name not in self.accounts:
                continue  # usage under an account the policy lacks: outside the tree
            self.usage[(account_name, user)] = max(float(value), 0.0)
            if user not in self.users[account_name]:
                extra.setdefault(account_name, set()).add(user)
        for account_name, users in extra.items():
            self.users[account_name].extend(sorted(users - set(self.users[account_name])))
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
        self.raw_usage: dict[str, float] = {}
        for name in self.top:
            self._sum_usage(name, set())

    def _mark(self, name: str, seen: set[str]) -> None:
        stack = [name]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.children.get(current, []))

    def sub_accounts(self, name: str) -> list[str]:
        return [c for c in self.children.get(name, []) if c not in self.top]

    def _sum_usage(self, name: str, path: set[str]) -> float:
        path = path | {name}
        total = sum(self.usage.get((name, user), 0.0) for user in self.users[name])
        for child in self.sub_accounts(name):
            if child not in path:
                total += self._sum_usage(child, path)
        self.raw_usage[name] = total
        return total


def share_tree(policy: Policy, usage: Mapping[tuple[str, str], float]) -> list[ShareRow]:
    """The sshare-like report: accounts in tree order, each followed by its users, then
    its sub-accounts. A user with usage under an account that does not list it (the open
    default account) is a leaf of that account with 1 share."""
    tree = _Tree(policy, usage)
    total = sum(tree.raw_usage[name] for name in tree.top)
    rows: list[ShareRow] = []

    def norm(value: float) -> float:
        return value / total if total > 0 else 0.0

    def visit(
        name: str, depth: int, parent_s: float, parent_ue: float | None, level: int, path: set[str]
    ) -> None:
        account = tree.accounts[name]
        s = parent_s * account.shares / level
        u = norm(tree.raw_usage[name])
        ue = u if parent_ue is None else u + (parent_ue - u) * account.shares / level
        rows.append(
            ShareRow(
                name, None, depth, account.shares, s, tree.raw_usage[name], u, ue, _factor(ue, s)
            )
        )
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
                    name, user, depth + 1, 1, user_s, raw, user_u, user_ue, _factor(user_ue, user_s)
                )
            )
        for child in subs:
            visit(child, depth + 1, s, ue, child_level, path | {child})

    top_level = sum(tree.accounts[name].shares for name in tree.top)
    for name in tree.top:
        visit(name, 0, 1.0, None, top_level, {name})
    return rows


def fairshare_factors(
    policy: Policy, usage: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    """(account, user) -> fair-share factor F in [0, 1], for every user leaf of the tree."""
    return {
        (row.account, row.user): row.fairshare
        for row in share_tree(policy, usage)
        if row.user is not None
    }
