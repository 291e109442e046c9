"""Roles on every endpoint, with real Unix users over TCP (API tokens), in-process.

    alice   owns the job (account `vision`, a sub-account of `lab`)
    bob     a plain user of the same account
    carol   coordinator of `lab`, so of `vision` too
    dave    admin (`[daemon] admins`)

Needs root: the users are created with useradd and removed afterwards.
"""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from api_support import ApiWorld, api_world, error_of, unix_users, users_skip_reason
from fastapi.testclient import TestClient

SKIP = users_skip_reason()
pytestmark = [
    pytest.mark.multiuser,
    pytest.mark.skipif(SKIP is not None, reason=SKIP or ""),
]

ROLES = ("alice", "bob", "carol", "dave")
MAY_ACT = {"alice": True, "bob": False, "carol": True, "dave": True}


@dataclass
class Lab:
    world: ApiWorld
    users: dict[str, pwd.struct_passwd]
    tokens: dict[str, str]

    def name(self, role: str) -> str:
        return self.users[role].pw_name

    def submit(self, role: str, **spec: object) -> int:
        body = {"argv": ["sleep", "100"], "env": {"SECRET": "s3"}, **spec}
        reply = self.as_(role).post("/api/v1/jobs", json=body)
        assert reply.status_code == 201, reply.text
        job_id: int = reply.json()["ids"][0]
        return job_id

    def as_(self, role: str) -> TestClient:
        return self.world.tcp(self.tokens[role])


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with unix_users(*ROLES) as users:
        names = {role: entry.pw_name for role, entry in users.items()}
        config = f"""
[daemon]
admins = ["{names["dave"]}"]

[[scheduler.accounts]]
name = "lab"
coordinators = ["{names["carol"]}"]

[[scheduler.accounts]]
name = "vision"
parent = "lab"
users = ["{names["alice"]}", "{names["bob"]}"]

[[scheduler.accounts]]
name = "default"
"""
        with api_world(config, multi_user=True) as world:
            tokens = {role: world.token_for(users[role].pw_uid) for role in ROLES}
            yield Lab(world, users, tokens)


@pytest.fixture
def job(lab: Lab) -> int:
    return lab.submit("alice", hold=True)


# ------------------------------------------------------------------- reading the queue


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_the_queue_and_the_machine(lab: Lab, job: int, role: str) -> None:
    client = lab.as_(role)
    for path in ("/api/v1/jobs", "/api/v1/gpus", "/api/v1/nodes", "/api/v1/share"):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/api/v1/jobs/{job}/explain").status_code == 200
    rows = client.get("/api/v1/jobs").json()["jobs"]
    assert job in [row["id"] for row in rows]
    table = client.get("/api/v1/jobs", params={"format": "table"}).text
    assert lab.name("alice")[:8] in table


@pytest.mark.parametrize("role", ROLES)
def test_a_jobs_environment_and_command_show_only_to_those_who_may_act(
    lab: Lab, job: int, role: str
) -> None:
    detail = lab.as_(role).get(f"/api/v1/jobs/{job}")
    assert detail.status_code == 200
    spec = detail.json()["spec"]
    assert ("env" in spec and spec["env"]["SECRET"] == "s3") is MAY_ACT[role]
    assert ("argv" in spec) is MAY_ACT[role]


@pytest.mark.parametrize("role", ROLES)
def test_logs_read_only_by_owner_coordinator_and_admin(lab: Lab, job: int, role: str) -> None:
    for stream in ("out", "err"):
        reply = lab.as_(role).get(f"/api/v1/jobs/{job}/logs", params={"stream": stream})
        if MAY_ACT[role]:
            assert reply.status_code == 200
        else:
            assert reply.status_code == 403
            assert lab.name("alice") in error_of(reply)[1]


# ------------------------------------------------------------------------------ actions


@pytest.mark.parametrize("role", ROLES)
def test_release_hold_and_cancel_by_owner_coordinator_and_admin_only(
    lab: Lab, job: int, role: str
) -> None:
    client = lab.as_(role)
    for action in ("release", "hold", "cancel"):
        reply = client.post(f"/api/v1/jobs/{action}", json={"targets": [str(job)]})
        if MAY_ACT[role]:
            assert reply.status_code == 200, (action, reply.text)
            assert reply.json() == {"jobs": [str(job)]}
        else:
            assert reply.status_code == 403, action
            assert "coordinator of account vision" in error_of(reply)[1]
    state = lab.as_("dave").get(f"/api/v1/jobs/{job}").json()["state"]
    assert state == ("CANCELLED" if MAY_ACT[role] else "PENDING")


def test_a_coordinator_acts_only_within_its_accounts(lab: Lab) -> None:
    elsewhere = lab.submit("bob", account="default", hold=True)
    reply = lab.as_("carol").post("/api/v1/jobs/cancel", json={"targets": [str(elsewhere)]})
    assert reply.status_code == 403
    assert lab.as_("carol").get(f"/api/v1/jobs/{elsewhere}/logs").status_code == 403


def test_a_plain_user_cancelling_by_filter_cannot_touch_others(lab: Lab, job: int) -> None:
    reply = lab.as_("bob").post("/api/v1/jobs/cancel", json={"user": lab.name("alice")})
    assert reply.status_code == 403
    assert lab.as_("alice").get(f"/api/v1/jobs/{job}").json()["state"] == "PENDING"


@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_stops_the_daemon(lab: Lab, role: str) -> None:
    before = len(lab.world.stops)
    reply = lab.as_(role).post("/api/v1/daemon/stop", json={})
    if role == "dave":
        assert reply.status_code == 202
        assert len(lab.world.stops) == before + 1
    else:
        assert reply.status_code == 403
        assert len(lab.world.stops) == before


# ------------------------------------------------------------------------------ tokens


def test_a_plain_user_cannot_create_tokens_for_others(lab: Lab) -> None:
    bob = lab.world.unix(lab.users["bob"].pw_uid)
    reply = bob.post("/api/v1/tokens", json={"user": lab.name("alice")})
    assert reply.status_code == 403
    assert "only an admin" in error_of(reply)[1]
    assert bob.get("/api/v1/tokens", params={"all": "true"}).status_code == 403


def test_an_admin_creates_a_token_for_another_user(lab: Lab) -> None:
    dave = lab.world.unix(lab.users["dave"].pw_uid)
    made = dave.post("/api/v1/tokens", json={"user": lab.name("bob"), "name": "for-bob"})
    assert made.status_code == 201 and made.json()["user"] == lab.name("bob")
    whoami = lab.world.tcp(made.json()["token"]).get("/api/v1/whoami").json()
    assert whoami["user"] == lab.name("bob") and whoami["is_admin"] is False
    missing = dave.post("/api/v1/tokens", json={"user": "no_such_user_here"})
    assert missing.status_code == 404


def test_users_see_and_revoke_only_their_own_tokens(lab: Lab) -> None:
    alice = lab.world.unix(lab.users["alice"].pw_uid)
    made = alice.post("/api/v1/tokens", json={"name": "alice-extra"}).json()
    bob_sees = lab.as_("bob").get("/api/v1/tokens").json()
    assert {row["user"] for row in bob_sees} == {lab.name("bob")}
    refused = lab.as_("bob").delete(f"/api/v1/tokens/{made['id']}")
    assert refused.status_code == 404
    assert lab.world.tcp(made["token"]).get("/api/v1/whoami").status_code == 200
    everyone = lab.as_("dave").get("/api/v1/tokens", params={"all": "true"}).json()
    assert made["id"] in [row["id"] for row in everyone]
    assert lab.as_("dave").delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    assert lab.world.tcp(made["token"]).get("/api/v1/whoami").status_code == 401


# ---------------------------------------------------- every endpoint needs credentials


def _api_routes(lab_world: ApiWorld) -> list[tuple[str, str]]:
    """(method, path) of every operation the OpenAPI description lists, but login and
    logout (which need no credentials)."""
    public = {"/api/v1/login", "/api/v1/logout"}
    paths = lab_world.app.openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if path not in public
        for method in operations
    ]


def test_every_endpoint_refuses_a_tcp_request_without_credentials(lab: Lab) -> None:
    routes = _api_routes(lab.world)
    assert len(routes) >= 18
    client = lab.world.tcp()
    for method, path in routes:
        url = path.replace("{job_id}", "1").replace("{token_id}", "1")
        reply = client.request(method, url, json={})
        assert reply.status_code == 401, (method, path, reply.text)
        assert error_of(reply)[0] == "unauthenticated"
