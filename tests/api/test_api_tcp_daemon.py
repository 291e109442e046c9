"""A real `mlrp up` serving the API on a TCP port beside its Unix socket.

The token is made with the CLI (over the socket), then used from a TCP client, the
Python client and the CLI (MLRP_URL/MLRP_TOKEN), then revoked.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_harness import Daemon, kill_leftovers, short_tempdir
from mlrp.client import Client
from mlrp.errors import Unauthenticated

ME = pwd.getpwuid(os.geteuid()).pw_name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def tcp_daemon(home: Path) -> Iterator[Daemon]:
    daemon = Daemon(home=home, api_port=free_port())
    daemon.start()
    yield daemon
    daemon.stop()


def url_of(daemon: Daemon) -> str:
    return f"http://127.0.0.1:{daemon.api_port}"


def raw_get(daemon: Daemon, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    assert daemon.api_port
    connection = http.client.HTTPConnection("127.0.0.1", daemon.api_port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_a_token_from_the_cli_works_on_tcp_until_revoked(tcp_daemon: Daemon) -> None:
    made = tcp_daemon.cli("token", "create", "--name", "laptop", "--expires", "7")
    assert made.code == 0, made.err
    token = made.out.split()[-1]
    assert token.startswith("mlrp_")

    remote = Client(url=url_of(tcp_daemon), token=token)
    assert remote.whoami()["user"] == ME
    ids = remote.submit({"argv": ["true"], "hold": True})["ids"]
    assert [row["id"] for row in tcp_daemon.client.jobs()] == ids

    listed = tcp_daemon.cli("token", "list")
    assert listed.code == 0 and "laptop" in listed.out and token not in listed.out
    token_id = tcp_daemon.client.tokens()[0]["id"]

    revoked = tcp_daemon.cli("token", "revoke", str(token_id))
    assert revoked.code == 0, revoked.err
    with pytest.raises(Unauthenticated, match="not valid"):
        remote.whoami()
    status, body = raw_get(tcp_daemon, "/api/v1/jobs", {"Authorization": f"Bearer {token}"})
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthenticated"


def test_the_cli_talks_tcp_with_mlrp_url_and_mlrp_token(tcp_daemon: Daemon) -> None:
    token = tcp_daemon.client.create_token(name="env")["token"]
    tcp_daemon.client.submit({"argv": ["true"], "hold": True, "name": "via-socket"})
    env = {"PATH": os.environ["PATH"], "MLRP_URL": url_of(tcp_daemon), "MLRP_TOKEN": token}
    env["MLRP_HOME"] = "/nonexistent"  # the socket is not how it gets there
    queue = _cli(env, "queue")
    assert queue.returncode == 0, queue.stderr
    assert "via-socket" in queue.stdout
    refused = _cli({**env, "MLRP_TOKEN": "mlrp_wrong"}, "queue")
    assert refused.returncode == 1
    assert "not valid" in refused.stderr and "Traceback" not in refused.stderr


def test_tcp_without_credentials_gets_401_and_openapi_is_public(tcp_daemon: Daemon) -> None:
    status, body = raw_get(tcp_daemon, "/api/v1/jobs")
    assert status == 401
    assert set(json.loads(body)) == {"error"}
    status, body = raw_get(tcp_daemon, "/api/v1/openapi.json")
    assert status == 200 and "/api/v1/tokens" in json.loads(body)["paths"]


def test_a_busy_port_stops_the_daemon_naming_it(tcp_daemon: Daemon) -> None:
    other = short_tempdir()
    try:
        second = Daemon(home=other, api_port=tcp_daemon.api_port)
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{tcp_daemon.api_port}"):
            second.start()
        assert "Traceback" not in second.log()
    finally:
        kill_leftovers(other)
        shutil.rmtree(other, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrp.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
