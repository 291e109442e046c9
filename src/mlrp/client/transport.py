"""A minimal HTTP/1.1 exchange over a Unix socket.

`http.client` costs more to import than the rest of a CLI call, so this module speaks
the small subset the daemon needs: one request per connection, `Content-Length` bodies.
It uses the C module `_socket` directly: `socket` builds its enums at import (loading
`enum`, `selectors`...), which alone would cost about a third of the interpreter's own
start-up.
"""

from __future__ import annotations

import _socket

from mlrp.errors import DaemonUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Protocol

    class Connection(Protocol):
        """A connected socket, plain or TLS."""

        def recv(self, size: int, /) -> bytes: ...
        def sendall(self, data: bytes, /) -> None: ...
        def close(self) -> None: ...


class Reply:
    """Status, lower-cased headers and body of one HTTP reply (a plain class: importing
    dataclasses would cost more than the rest of this module)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def exchange(
    socket_path: str, method: str, path: str, body: bytes | None = None, timeout: float = 60.0
) -> Reply:
    request = encode_request(method, path, body, host="mlrp")
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise DaemonUnavailable(
                f"no mlrp daemon answers on {socket_path} (start one with `mlrp up`)"
            ) from e
        except PermissionError as e:
            raise DaemonUnavailable(f"not allowed to reach the daemon on {socket_path}") from e
        sock.sendall(request)
        return read_reply(sock)
    finally:
        sock.close()


def encode_request(
    method: str, path: str, body: bytes | None, *, host: str, headers: tuple[str, ...] = ()
) -> bytes:
    """One HTTP/1.1 request, `Connection: close`, with a JSON body if any."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


def read_reply(sock: Connection) -> Reply:
    """The reply on `sock`, read to the end of the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise DaemonUnavailable("the daemon sent a malformed reply")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Reply(int(parts[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)
