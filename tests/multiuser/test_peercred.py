"""`peer_credentials`: who is on the other end of a Unix socket, from the kernel."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile

import pytest

from mlrp.api.peercred import peer_credentials

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_PEERCRED is Linux-only")


def test_a_socketpair_reports_this_process() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        me = (os.getpid(), os.getuid(), os.getgid())
        assert peer_credentials(left) == me
        assert peer_credentials(right) == me


def test_a_connected_unix_socket_reports_the_connecting_process() -> None:
    folder = tempfile.mkdtemp(prefix="mlrp-pc-", dir="/tmp")  # short: socket paths
    path = os.path.join(folder, "s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            accepted, _ = server.accept()
            with accepted:
                assert peer_credentials(accepted) == (os.getpid(), os.getuid(), os.getgid())
    finally:
        server.close()
        shutil.rmtree(folder)


def test_a_non_unix_socket_has_no_peer_credentials() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert peer_credentials(sock) is None
