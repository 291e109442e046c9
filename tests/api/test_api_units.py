"""The pure parts of remote access: coordinator trees, URLs, the login limiter, and how
the client chooses between the Unix socket and TCP."""

from __future__ import annotations

import pytest

from mlrp.client import Client
from mlrp.client.remote import parse_url
from mlrp.errors import MlrpError
from mlrp.models.policy import Account
from mlrp.services.login_limits import LoginLimiter, TooManyLogins
from mlrp.services.roles import coordinated_accounts


def test_a_coordinator_covers_the_accounts_below_its_own() -> None:
    accounts = [
        Account(name="lab", coordinators=["carol"]),
        Account(name="vision", parent="lab", coordinators=["vic"]),
        Account(name="robots", parent="vision"),
        Account(name="nlp", parent="lab"),
        Account(name="other"),
    ]
    found = coordinated_accounts(accounts)
    assert found["carol"] == {"lab", "vision", "robots", "nlp"}
    assert found["vic"] == {"vision", "robots"}
    assert "bob" not in found


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("http://127.0.0.1:8765", (False, "127.0.0.1", 8765, "")),
        ("https://cluster.lab.org", (True, "cluster.lab.org", 443, "")),
        ("https://cluster.lab.org/mlrp/", (True, "cluster.lab.org", 443, "/mlrp")),
        ("http://[::1]:9000", (False, "::1", 9000, "")),
        ("HTTP://host", (False, "host", 80, "")),
    ],
)
def test_urls_are_read_as_written(url: str, parsed: tuple[bool, str, int, str]) -> None:
    assert parse_url(url) == parsed


@pytest.mark.parametrize("url", ["127.0.0.1:8765", "ftp://host", "http://:80", "http://h:x"])
def test_a_bad_url_is_refused_naming_it(url: str) -> None:
    with pytest.raises(MlrpError, match="URL"):
        parse_url(url)


def test_the_limiter_forgets_failures_once_out_of_the_window() -> None:
    now = [1000.0]
    limiter = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("alice", "10.0.0.1")
        limiter.failed("alice", "10.0.0.1")
    with pytest.raises(TooManyLogins) as refused:
        limiter.check("alice", "10.0.0.2")  # the user is throttled, from anywhere
    assert refused.value.retry_after == 60
    limiter.check("bob", "10.0.0.2")  # others are not
    now[0] += 60
    limiter.check("alice", "10.0.0.1")


def test_a_correct_login_clears_the_users_failures() -> None:
    limiter = LoginLimiter(max_failures=2, window=60, clock=lambda: 0.0)
    limiter.failed("alice", "a")
    limiter.succeeded("alice")
    limiter.failed("alice", "b")
    limiter.check("alice", "c")


def test_the_client_uses_tcp_when_mlrp_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRP_URL", "http://10.1.2.3:8765")
    monkeypatch.setenv("MLRP_TOKEN", "mlrp_secret")
    client = Client()
    assert client.remote is not None and client.remote.token == "mlrp_secret"
    assert client.remote.host == "10.1.2.3"
    assert Client("/tmp/mlrp.sock").remote is None  # an explicit socket wins
    monkeypatch.delenv("MLRP_URL")
    assert Client().remote is None
