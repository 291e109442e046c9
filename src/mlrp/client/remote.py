"""The daemon's API on TCP (`http://host:port`, or `https://` through a TLS proxy),
authenticated with an API token (`Authorization: Bearer`).

Like mlrp.client.transport: one request per connection, the C `_socket` module for plain
HTTP; `ssl` (and `socket`, which it needs) are loaded only for an https URL. A path in
the URL (`https://host/mlrp`) prefixes every request, for a daemon behind a proxy.
"""

from __future__ import annotations

import _socket

from mlrp.client.transport import Reply, read_reply
from mlrp.client.transport import encode_request as _encode
from mlrp.errors import DaemonUnavailable, MlrpError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from mlrp.client.transport import Connection


class Remote:
    """Where a TCP daemon is, and the token to show it."""

    __slots__ = ("host", "port", "prefix", "tls", "token", "url")

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.tls, self.host, self.port, self.prefix = parse_url(url)

    def exchange(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 60.0
    ) -> Reply:
        headers = (f"Authorization: Bearer {self.token}",) if self.token else ()
        host = f"[{self.host}]" if ":" in self.host else self.host
        request = _encode(
            method, self.prefix + path, body, host=f"{host}:{self.port}", headers=headers
        )
        sock = self._connect(timeout)
        try:
            sock.sendall(request)
            return read_reply(sock)
        except OSError as e:  # timeouts included
            raise DaemonUnavailable(f"the mlrp daemon at {self.url} did not answer: {e}") from e
        finally:
            sock.close()

    def _connect(self, timeout: float) -> Connection:
        try:
            if self.tls:
                return _tls_connection(self.host, self.port, timeout)
            return _plain_connection(self.host, self.port, timeout)
        except OSError as e:
            raise DaemonUnavailable(f"no mlrp daemon answers at {self.url}: {e}") from e


def parse_url(url: str) -> tuple[bool, str, int, str]:
    """(tls, host, port, path prefix) of `http[s]://host[:port][/prefix]`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise MlrpError(f"an mlrp URL reads http://HOST:PORT or https://HOST[:PORT]; got {url!r}")
    tls = scheme.lower() == "https"
    where, slash, prefix = rest.partition("/")
    if where.startswith("["):  # [::1]:8765
        host, _, after = where[1:].partition("]")
        port_text = after.removeprefix(":")
    else:
        host, _, port_text = where.partition(":")
    if not host or (port_text and not port_text.isdigit()):
        raise MlrpError(f"no host and port in the mlrp URL {url!r}")
    port = int(port_text) if port_text else (443 if tls else 80)
    return tls, host, port, ("/" + prefix.rstrip("/")) if slash and prefix.strip("/") else ""


def _plain_connection(host: str, port: int, timeout: float) -> Connection:
    last: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, address in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as e:
            sock.close()
            last = e
            continue
        return sock
    raise last


def _tls_connection(host: str, port: int, timeout: float) -> Connection:
    import socket
    import ssl

    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ssl.create_default_context().wrap_socket(raw, server_hostname=host)
    except (OSError, ssl.SSLError):
        raw.close()
        raise
