"""Roles: who a caller is and what it may touch beyond its own jobs.

    user          acts on its own jobs; reads the queue (every job's metadata)
    coordinator   a user listed in an account's `coordinators`: acts on every job of
                  that account and of its sub-accounts, as Slurm's coordinators
    admin         `[daemon] admins`, and root: acts on every job, may create tokens for
                  other users, may stop the daemon

`Roles` turns a uid (the Unix socket's peer credentials) or a user name (an API token's
or a session's owner) into a `Caller` that carries its admin flag and the accounts it
coordinates; the checks themselves are `Caller.may_act_on` / `require_owner`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from mlrp.errors import NotFound, PermissionDenied, Unauthenticated
from mlrp.models.policy import Account
from mlrp.services.identity import Caller, caller_from_uid, lookup_user


class Roles:
    def __init__(
        self, admins: Sequence[str], accounts: Iterable[Account] = (), *, multi_user: bool
    ) -> None:
        self.admins = list(admins)
        self.multi_user = multi_user
        self._coordinated = coordinated_accounts(list(accounts))

    def coordinates(self, user: str) -> frozenset[str]:
        """The accounts `user` may act on as a coordinator (sub-accounts included)."""
        return self._coordinated.get(user, frozenset())

    def caller_for_uid(self, uid: int, gid: int) -> Caller:
        """The caller on the other end of the Unix socket."""
        self._check_personal(uid)
        return self._with_roles(caller_from_uid(uid, gid, self.admins))

    def caller_for_user(self, name: str) -> Caller:
        """The caller an API token or a browser session stands for."""
        try:
            entry = lookup_user(name)
        except NotFound as e:
            raise Unauthenticated(f"the user {name!r} of these credentials no longer exists") from e
        self._check_personal(entry.pw_uid)
        return self._with_roles(caller_from_uid(entry.pw_uid, entry.pw_gid, self.admins))

    def _with_roles(self, caller: Caller) -> Caller:
        coordinated = self.coordinates(caller.user)
        if not coordinated:
            return caller
        return Caller(
            uid=caller.uid,
            gid=caller.gid,
            user=caller.user,
            groups=caller.groups,
            is_admin=caller.is_admin,
            coordinates=coordinated,
        )

    def _check_personal(self, uid: int) -> None:
        # A personal daemon's socket already keeps others out; this holds even if it is
        # loosened, and for credentials presented over TCP.
        if not self.multi_user and uid not in (0, os.geteuid()):
            raise PermissionDenied("this is a personal mlrp daemon; it serves only its own user")


def coordinated_accounts(accounts: Sequence[Account]) -> dict[str, frozenset[str]]:
    """user -> the accounts it coordinates, with every account below them in the tree."""
    children: dict[str | None, list[str]] = {}
    for account in accounts:
        children.setdefault(account.parent, []).append(account.name)
    found: dict[str, set[str]] = {}
    for account in accounts:
        below = _subtree(account.name, children)
        for user in account.coordinators:
            found.setdefault(user, set()).update(below)
    return {user: frozenset(names) for user, names in found.items()}


def _subtree(root: str, children: dict[str | None, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [root]
    while stack:
        name = stack.pop()
        if name not in seen:  # a cycle in a bad config must not loop forever
            seen.add(name)
            stack.extend(children.get(name, []))
    return seen
