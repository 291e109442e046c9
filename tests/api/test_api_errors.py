"""Every error reaches the caller in the one JSON shape, a bug included."""

from __future__ import annotations

import os

import pytest
from api_support import api_world, error_of, with_peer
from fastapi.testclient import TestClient

from mlrp.services.backend import LocalBackend


def test_a_bug_is_a_json_500_that_says_where_to_look(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LocalBackend, "gpus", broken)
    with api_world() as world:
        peer = (os.getpid(), os.geteuid(), os.getegid())
        client = TestClient(with_peer(world.app, peer), raise_server_exceptions=False)
        reply = client.get("/api/v1/gpus")
        assert reply.status_code == 500
        code, message = error_of(reply)
        assert code == "internal" and "daemon's log" in message
        assert "a bug" not in reply.text  # no internals leak to the caller
        assert client.get("/api/v1/whoami").status_code == 200  # and the daemon goes on


def test_a_user_name_with_a_nul_is_an_unknown_user_not_a_crash() -> None:
    with api_world() as world:
        reply = world.unix().post("/api/v1/tokens", json={"name": "x", "user": "a\u0000b"})
    assert reply.status_code == 404
    code, message = error_of(reply)
    assert code == "not_found" and "no Unix user named" in message
