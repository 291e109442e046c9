"""The API on TCP: its listening socket, its authentication, and uvicorn's proxy options.

The Unix socket is always served (mlrp.daemon.server); `[api] port` (0: off) adds a TCP
listener on `[api] bind` to the same uvicorn server, where callers authenticate with an
API token or a browser session (mlrp.api.auth). Only `[api] trusted_proxies` may set
the client's address and scheme through X-Forwarded-For/-Proto.
"""

from __future__ import annotations

import socket
from typing import Any

from pydantic import ValidationError

from mlrp.api.auth import Access
from mlrp.config import ApiSettings, Config, describe_validation
from mlrp.errors import ConfigError
from mlrp.services.login_limits import LoginLimiter
from mlrp.services.roles import Roles
from mlrp.store import Store
from mlrp.store.credentials import CredentialStore

HOUR = 3600.0


def bind_tcp(settings: ApiSettings) -> socket.socket | None:
    """Listen on `bind:port`, or None when the port is 0."""
    if settings.port == 0:
        return None
    where = f"{settings.bind}:{settings.port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.bind, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise ConfigError(f"[api] bind {settings.bind!r} is not an address here: {e}") from e
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(512)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {where}: {e.strerror}; set [api] port in the config "
            "(0 turns the TCP listener off) or `mlrp up --port`"
        ) from e
    return sock


def tcp_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_access(config: Config, store: Store, *, multi_user: bool) -> Access:
    """Roles from `[daemon] admins` and the accounts' coordinators; credentials in the
    daemon's database (on the store's connection)."""
    roles = Roles(config.daemon.admins, config.scheduler.accounts, multi_user=multi_user)
    limiter = LoginLimiter(max_failures=config.api.login_failures)
    return Access.build(
        roles,
        CredentialStore(store.db),
        session_ttl=config.api.session_hours * HOUR,
        limiter=limiter,
    )


def proxy_options(settings: ApiSettings) -> dict[str, Any]:
    """uvicorn's options: believe forwarded headers from the trusted proxies only."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def api_settings(config: Config, *, port: int | None, bind: str | None) -> ApiSettings:
    """`[api]` with `mlrp up --port/--bind` over it."""
    update: dict[str, Any] = {}
    if port is not None:
        update["port"] = port
    if bind is not None:
        update["bind"] = bind
    try:
        return ApiSettings.model_validate({**config.api.model_dump(), **update})
    except ValidationError as e:
        raise ConfigError(f"mlrp up: {describe_validation(e)}") from e
