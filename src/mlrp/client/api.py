"""`Client`: one method per API operation, returning plain JSON values."""

from __future__ import annotations

import os

from mlrp.client.transport import Reply, exchange
from mlrp.errors import ERRORS_BY_CODE, MlrpError
from mlrp.locations import client_socket_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any as Json

    from mlrp.client.remote import Remote


class Client:
    """The daemon on its Unix socket (default: mlrp.locations.client_socket_path), or on
    TCP: `Client(url="http://host:8765", token=...)`. With neither a socket path nor a
    URL, `MLRP_URL` and `MLRP_TOKEN` from the environment choose TCP when set."""

    def __init__(
        self, socket_path: str | None = None, *, url: str | None = None, token: str | None = None
    ) -> None:
        if url is None and socket_path is None:
            url = os.environ.get("MLRP_URL") or None
            token = token or os.environ.get("MLRP_TOKEN") or None
        self.remote: Remote | None = None
        if url is not None:
            from mlrp.client.remote import Remote  # only for TCP

            self.remote = Remote(url, token)
        self.socket_path = "" if self.remote else socket_path or client_socket_path()

    # --- jobs ---------------------------------------------------------------------------

    def submit(self, spec: dict[str, Json]) -> dict[str, Json]:
        """Submit one spec (see mlrp.models.jobs.JobSpec); returns ids and display ids."""
        return dict(self._call("POST", "/api/v1/jobs", spec))

    def submit_request(self, request: dict[str, Json]) -> dict[str, Json]:
        """Submit `mlrp submit` / `mlrp run` as typed, for the daemon to parse (see
        mlrp.api.schemas.SbatchRequest: command, options, rest, after_double_dash,
        file_name and file_text, environ, workdir, as_user); returns ids and display
        ids. Bad options or scripts raise InvalidSpec with the parser's message."""
        return dict(self._call("POST", "/api/v1/jobs/sbatch", request))

    def plan(self, request: dict[str, Json]) -> dict[str, Json]:
        """A dry run of `submit_request`: {"backend", "fields" (the parsed spec),
        "script" (the sbatch script it becomes)}; nothing is submitted."""
        return dict(self._call("POST", "/api/v1/jobs/plan", request))

    def submit_batch(
        self, specs: list[dict[str, Json]], *, env: dict[str, str] | None = None
    ) -> list[dict[str, Json]]:
        """Submit many specs at once, all or none.

        The environment travels once for the whole batch: `env`, or else the first
        spec's `env`. Every spec whose own `env` is that one (or who has none, when `env`
        is given) gets it; a spec with another `env` keeps its own."""
        body: dict[str, Json] = {"specs": specs}
        shared = env if env is not None else next((s["env"] for s in specs if "env" in s), None)
        if shared is not None:
            body = {"env": shared, "specs": [_without_env(s, shared, env) for s in specs]}
        reply = self._call("POST", "/api/v1/jobs/batch", body)
        return list(reply["jobs"])

    def jobs(
        self,
        *,
        states: list[str] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Json]]:
        query = _listing_query(states, user, account, name)
        if since is not None:
            query.append(("since", repr(since)))
        return list(self._call("GET", _with_query("/api/v1/jobs", query))["jobs"])

    def queue_table(
        self,
        *,
        states: list[str] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
        start: bool = False,
        tz: str | None = None,
    ) -> str:
        """The text of `mlrp queue` (with `start`, `mlrp queue --start`), as the daemon
        renders it. `tz`: the caller's TZ ("" when unset), for times in its local zone."""
        query = [("format", "table"), *_listing_query(states, user, account, name)]
        if start:
            query.append(("start", "true"))
        if tz is not None:
            query.append(("tz", tz))
        return self._raw("GET", _with_query("/api/v1/jobs", query)).body.decode()

    def job(self, job_id: int) -> dict[str, Json]:
        return dict(self._call("GET", f"/api/v1/jobs/{job_id}"))

    def explain(self, job_id: int, versus: int | None = None) -> dict[str, Json]:
        path = f"/api/v1/jobs/{job_id}/explain"
        if versus is not None:
            path += f"?vs={int(versus)}"
        return dict(self._call("GET", path))

    def logs(self, job_id: int, *, stream: str = "out", offset: int = 0) -> tuple[bytes, int, str]:
        """(bytes from offset, next offset, job state)."""
        query = urlencode({"stream": stream, "offset": offset})
        reply = self._raw("GET", f"/api/v1/jobs/{job_id}/logs?{query}")
        return reply.body, int(reply.headers["x-mlrp-offset"]), reply.headers["x-mlrp-state"]

    def cancel(self, targets: list[str], **filters: Json) -> list[str]:
        return self._select("cancel", targets, filters)

    def hold(self, targets: list[str], **filters: Json) -> list[str]:
        return self._select("hold", targets, filters)

    def release(self, targets: list[str], **filters: Json) -> list[str]:
        return self._select("release", targets, filters)

    def _select(self, action: str, targets: list[str], filters: dict[str, Json]) -> list[str]:
        body = {"targets": targets, **{k: v for k, v in filters.items() if v is not None}}
        return list(self._call("POST", f"/api/v1/jobs/{action}", body)["jobs"])

    # --- machine and policy -------------------------------------------------------------

    def gpus(self) -> list[dict[str, Json]]:
        return list(self._call("GET", "/api/v1/gpus"))

    def nodes(self) -> list[dict[str, Json]]:
        return list(self._call("GET", "/api/v1/nodes"))

    def share(self) -> list[dict[str, Json]]:
        return list(self._call("GET", "/api/v1/share"))

    def whoami(self) -> dict[str, Json]:
        return dict(self._call("GET", "/api/v1/whoami"))

    def stop_daemon(self) -> None:
        self._call("POST", "/api/v1/daemon/stop", {})

    # --- credentials --------------------------------------------------------------------

    def create_token(
        self, *, name: str = "token", expires_days: float | None = None, user: str | None = None
    ) -> dict[str, Json]:
        """A new API token (Unix socket only): {"id", "name", "user", "created",
        "expires", "token"}; the token itself is in this reply only."""
        body: dict[str, Json] = {"name": name, "expires_days": expires_days}
        if user is not None:
            body["user"] = user
        return dict(self._call("POST", "/api/v1/tokens", body))

    def tokens(self, *, everyone: bool = False) -> list[dict[str, Json]]:
        """The caller's tokens (with `everyone`, an admin's view of all), never the
        tokens themselves."""
        return list(self._call("GET", "/api/v1/tokens" + ("?all=true" if everyone else "")))

    def revoke_token(self, token_id: int) -> dict[str, Json]:
        return dict(self._call("DELETE", f"/api/v1/tokens/{int(token_id)}"))

    def set_password(self, password: str) -> None:
        """The caller's own password, for browser login (Unix socket only)."""
        self._call("PUT", "/api/v1/password", {"password": password})

    # --- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Json = None) -> Json:
        reply = self._raw(method, path, body)
        from mlrp.client import wire  # here: `mlrp queue` prints text and needs no JSON

        return wire.loads(reply.body) if reply.body else None

    def _raw(self, method: str, path: str, body: Json = None) -> Reply:
        payload = None
        if body is not None:
            from mlrp.client import wire

            payload = wire.dumps(body).encode()
        if self.remote is not None:
            reply = self.remote.exchange(method, path, payload)
        else:
            reply = exchange(self.socket_path, method, path, payload)
        if reply.status >= 400:
            raise _error_of(reply)
        return reply


def _without_env(
    spec: dict[str, Json], shared: dict[str, str], explicit: dict[str, str] | None
) -> dict[str, Json]:
    """The spec as a batch with `shared` as its environment sends it."""
    if "env" not in spec:
        # Without an `env` of its own a spec gets the batch's: keep an empty one empty.
        return spec if explicit is not None else {**spec, "env": {}}
    own = spec["env"]
    if own is shared or own == shared:
        return {k: v for k, v in spec.items() if k != "env"}
    return spec


def _listing_query(
    states: list[str] | None, user: str | None, account: str | None, name: str | None
) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = [("state", s) for s in states or []]
    for key, value in (("user", user), ("account", account), ("name", name)):
        if value is not None:
            query.append((key, value))
    return query


def _with_query(path: str, query: list[tuple[str, str]]) -> str:
    return path + ("?" + urlencode(query) if query else "")


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def urlencode(pairs: list[tuple[str, str]] | dict[str, object]) -> str:
    """Query-string encoding (RFC 3986 unreserved characters kept); urllib.parse would
    cost a CLI call more than all of this module."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return "&".join(f"{_quote(str(k))}={_quote(str(v))}" for k, v in items)


def _quote(text: str) -> str:
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def _error_of(reply: Reply) -> MlrpError:
    try:
        from mlrp.client import wire

        error = wire.loads(reply.body)["error"]
        cls = ERRORS_BY_CODE.get(error["code"], MlrpError)
        return cls(error["message"])
    except (ValueError, KeyError, TypeError):
        return MlrpError(f"the daemon answered {reply.status}: {reply.body[:200]!r}")
