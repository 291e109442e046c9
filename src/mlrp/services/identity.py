"""Who is calling: a Unix user, from the kernel's peer credentials on the Unix socket or
from the credentials (API token, browser session) that mlrp.api.auth checked on TCP.

A caller may act on a job (read its logs, environment and script; cancel, hold or
release it) when it owns the job, coordinates the job's account (`coordinates`: the
accounts it is a coordinator of, and their sub-accounts; see mlrp.services.roles) or is
an admin.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from mlrp.errors import NotFound, PermissionDenied
from mlrp.models.jobs import Job


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    gid: int
    user: str
    groups: tuple[int, ...]
    is_admin: bool
    coordinates: frozenset[str] = frozenset()

    def may_act_on(self, job: Job) -> bool:
        return self.is_admin or job.user == self.user or job.account in self.coordinates

    def require_owner(self, job: Job, action: str) -> None:
        if not self.may_act_on(job):
            raise PermissionDenied(
                f"job {job.display_id} belongs to {job.user}; only its owner, a coordinator "
                f"of account {job.account} or an admin may {action} it"
            )


def caller_from_uid(uid: int, gid: int, admins: list[str]) -> Caller:
    try:
        entry = pwd.getpwuid(uid)
    except KeyError as e:
        raise PermissionDenied(f"uid {uid} has no user name on this machine") from e
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Caller(
        uid=uid,
        gid=gid,
        user=entry.pw_name,
        groups=groups,
        is_admin=uid == 0 or entry.pw_name in admins,
    )


def lookup_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except (KeyError, ValueError) as e:  # ValueError: a NUL in the name
        raise NotFound(f"no Unix user named {name!r} on this machine") from e
