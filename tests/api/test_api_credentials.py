"""Authentication on TCP, in-process: API tokens, browser sessions, CSRF, rate limits.

Each test drives the daemon's real app (tests/api/api_support.py): requests "over the
Unix socket" carry peer credentials, TCP ones must bring a token or a session.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator

import httpx
import pytest
from api_support import ApiWorld, api_world, error_of
from fastapi.testclient import TestClient

ME = pwd.getpwuid(os.geteuid()).pw_name
PASSWORD = "correct horse battery"
DAY = 86400


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    with api_world() as w:
        yield w


def login(client: TestClient, **body: str) -> httpx.Response:
    return client.post("/api/v1/login", json={"user": ME, **body})


# --------------------------------------------------------------------------- API tokens


def test_a_tcp_request_without_credentials_gets_401_in_the_one_error_shape(
    world: ApiWorld,
) -> None:
    reply = world.tcp().get("/api/v1/jobs")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    code, message = error_of(reply)
    assert code == "unauthenticated"
    assert "mlrp token create" in message


def test_a_token_made_over_the_socket_authenticates_tcp_requests_as_its_user(
    world: ApiWorld,
) -> None:
    token = world.token_for(name="laptop")
    me = world.tcp(token).get("/api/v1/whoami")
    assert me.status_code == 200 and me.json()["user"] == ME
    submitted = world.tcp(token).post("/api/v1/jobs", json={"argv": ["true"]})
    assert submitted.status_code == 201
    listed = world.tcp(token).get("/api/v1/jobs").json()["jobs"]
    assert [row["user"] for row in listed] == [ME]


def test_token_listing_shows_metadata_and_never_the_token(world: ApiWorld) -> None:
    token = world.token_for(name="ci", expires_days=30)
    world.tcp(token).get("/api/v1/jobs")  # now it has been used
    rows = world.tcp(token).get("/api/v1/tokens").json()
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"id", "user", "name", "created", "last_used", "expires"}
    assert row["name"] == "ci" and row["user"] == ME
    assert row["last_used"] is not None
    assert row["expires"] == pytest.approx(row["created"] + 30 * DAY)
    assert token not in world.tcp(token).get("/api/v1/tokens").text


def test_only_a_hash_of_the_token_is_stored(world: ApiWorld) -> None:
    token = world.token_for()
    dump = "\n".join(world.store.db.iterdump())
    assert token not in dump
    assert token.removeprefix("mlrp_") not in dump


def test_a_revoked_token_gets_401(world: ApiWorld) -> None:
    token = world.token_for()
    token_id = world.tcp(token).get("/api/v1/tokens").json()[0]["id"]
    assert world.tcp(token).delete(f"/api/v1/tokens/{token_id}").status_code == 200
    reply = world.tcp(token).get("/api/v1/jobs")
    assert reply.status_code == 401
    assert "not valid" in error_of(reply)[1]


def test_an_expired_token_gets_401_saying_it_expired(world: ApiWorld) -> None:
    token = world.token_for(name="short", expires_days=1)
    assert world.tcp(token).get("/api/v1/jobs").status_code == 200
    world.clock.now += 1 * DAY + 1
    reply = world.tcp(token).get("/api/v1/jobs")
    assert reply.status_code == 401
    assert "expired" in error_of(reply)[1]


@pytest.mark.parametrize(
    "header",
    ["Bearer mlrp_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "mlrp_token"],
)
def test_a_wrong_or_malformed_token_gets_401(world: ApiWorld, header: str) -> None:
    client = world.tcp()
    reply = client.get("/api/v1/jobs", headers={"Authorization": header})
    assert reply.status_code == 401
    assert error_of(reply)[0] == "unauthenticated"


def test_tokens_and_passwords_are_minted_only_over_the_unix_socket(world: ApiWorld) -> None:
    """A leaked token must not be able to mint more credentials that outlive it."""
    token = world.token_for()
    made = world.tcp(token).post("/api/v1/tokens", json={"name": "more"})
    assert made.status_code == 403
    assert "Unix socket" in error_of(made)[1]
    password = world.tcp(token).put("/api/v1/password", json={"password": PASSWORD})
    assert password.status_code == 403


def test_bad_token_requests_are_refused_naming_the_field(world: ApiWorld) -> None:
    reply = world.unix().post("/api/v1/tokens", json={"expires_days": -1})
    assert reply.status_code == 422
    assert "expires_days" in error_of(reply)[1]
    reply = world.unix().delete("/api/v1/tokens/999")
    assert reply.status_code == 404
    assert "no token 999" in error_of(reply)[1]


# ---------------------------------------------------------------------- browser sessions


def test_a_password_login_sets_a_protected_session_cookie(world: ApiWorld) -> None:
    assert world.unix().put("/api/v1/password", json={"password": PASSWORD}).status_code == 200
    client = world.tcp()
    reply = client.post("/api/v1/login", json={"user": ME, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    cookies = _set_cookies(reply)
    session = cookies["mlrp_session"]
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "secure" not in session  # plain http: a Secure cookie would never come back
    csrf = cookies["mlrp_csrf"]
    assert "httponly" not in csrf and "samesite=strict" in csrf  # the page's script reads it
    assert reply.json()["csrf_token"] == client.cookies["mlrp_csrf"]
    assert client.get("/api/v1/whoami").json()["user"] == ME


def test_over_tls_the_session_cookies_are_secure(world: ApiWorld) -> None:
    world.unix().put("/api/v1/password", json={"password": PASSWORD})
    reply = world.tcp(https=True).post("/api/v1/login", json={"user": ME, "password": PASSWORD})
    cookies = _set_cookies(reply)
    assert "secure" in cookies["mlrp_session"] and "secure" in cookies["mlrp_csrf"]


def test_a_form_login_with_a_token_works_too(world: ApiWorld) -> None:
    token = world.token_for()
    client = world.tcp()
    reply = client.post("/api/v1/login", data={"user": ME, "token": token})
    assert reply.status_code == 200, reply.text
    assert client.get("/api/v1/jobs").status_code == 200


def test_a_cookie_authenticated_post_without_the_csrf_token_gets_403(world: ApiWorld) -> None:
    client = _logged_in(world)
    world.tcp(world.token_for()).post("/api/v1/jobs", json={"argv": ["true"], "hold": True})
    selection = {"targets": ["1"]}
    refused = client.post("/api/v1/jobs/release", json=selection)
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)[1]
    wrong = client.post("/api/v1/jobs/release", json=selection, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    csrf = client.cookies["mlrp_csrf"]
    done = client.post("/api/v1/jobs/release", json=selection, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json() == {"jobs": ["1"]}


def test_bearer_and_socket_requests_need_no_csrf_token(world: ApiWorld) -> None:
    token = world.token_for()
    assert world.tcp(token).post("/api/v1/jobs", json={"argv": ["true"]}).status_code == 201
    assert world.unix().post("/api/v1/jobs", json={"argv": ["true"]}).status_code == 201


def test_logout_needs_the_csrf_token_and_ends_the_session(world: ApiWorld) -> None:
    client = _logged_in(world)
    assert client.post("/api/v1/logout").status_code == 403
    csrf = client.cookies["mlrp_csrf"]
    cookie = client.cookies["mlrp_session"]
    reply = client.post("/api/v1/logout", data={"csrf_token": csrf})  # a plain HTML form
    assert reply.status_code == 200 and reply.json() == {"ended": True}
    replay = world.tcp()  # the old cookie, sent again as a stolen copy would be
    replay.cookies.set("mlrp_session", cookie)
    again = replay.get("/api/v1/jobs")
    assert again.status_code == 401
    assert "log in again" in error_of(again)[1]


def test_a_session_expires(world: ApiWorld) -> None:
    client = _logged_in(world)
    world.clock.now += 3601
    assert client.get("/api/v1/jobs").status_code == 401


def test_setting_a_password_ends_open_sessions(world: ApiWorld) -> None:
    client = _logged_in(world)
    world.unix().put("/api/v1/password", json={"password": "another long password"})
    assert client.get("/api/v1/jobs").status_code == 401


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"user": ME}, "password or an API token"),
        ({"user": ME, "password": "x", "token": "y"}, "password or an API token"),
        ({"password": "x"}, "user"),
        ({"user": ME, "password": "x", "admin": True}, "admin"),
    ],
)
def test_a_malformed_login_is_refused_naming_the_problem(
    world: ApiWorld, body: dict[str, object], named: str
) -> None:
    reply = world.tcp().post("/api/v1/login", json=body)
    assert reply.status_code == 422
    assert named in error_of(reply)[1]


def test_a_short_password_is_refused(world: ApiWorld) -> None:
    reply = world.unix().put("/api/v1/password", json={"password": "short"})
    assert reply.status_code == 422
    assert "at least 8 characters" in error_of(reply)[1]


# ---------------------------------------------------------------------------- rate limit


def test_failed_logins_are_limited_per_user_with_429(world: ApiWorld) -> None:
    world.unix().put("/api/v1/password", json={"password": PASSWORD})
    client = world.tcp()
    for _ in range(5):
        assert login(client, password="wrong password").status_code == 401
    reply = login(client, password=PASSWORD)  # even the right one, for now
    assert reply.status_code == 429
    code, message = error_of(reply)
    assert code == "over_limit" and "too many failed logins" in message
    assert int(reply.headers["retry-after"]) >= 1
    world.clock.now += 61
    assert login(client, password=PASSWORD).status_code == 200


def test_failed_logins_are_limited_per_address_across_users(world: ApiWorld) -> None:
    client = world.tcp()
    for n in range(5):
        reply = client.post("/api/v1/login", json={"user": f"nobody{n}", "password": "guess"})
        assert reply.status_code == 401
    reply = client.post("/api/v1/login", json={"user": "nobody9", "password": "guess"})
    assert reply.status_code == 429
    assert "testclient" in error_of(reply)[1]


# ----------------------------------------------------------------------------- OpenAPI


@pytest.mark.parametrize("path", ["/openapi.json", "/api/v1/openapi.json"])
def test_the_openapi_description_is_public(world: ApiWorld, path: str) -> None:
    reply = world.tcp().get(path)
    assert reply.status_code == 200
    described = reply.json()
    assert "/api/v1/jobs" in described["paths"] and "/api/v1/login" in described["paths"]
    assert "HTTPBearer" in described["components"]["securitySchemes"]


# ------------------------------------------------------------------------------ helpers


def _logged_in(world: ApiWorld) -> TestClient:
    world.unix().put("/api/v1/password", json={"password": PASSWORD})
    client = world.tcp()
    assert login(client, password=PASSWORD).status_code == 200
    return client


def _set_cookies(reply: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie line, lower-cased."""
    lines = reply.headers.get_list("set-cookie")
    return {line.split("=", 1)[0]: line.lower() for line in lines}
