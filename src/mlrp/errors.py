"""The one exception tree of mlrp.

    MlrpError                      every error mlrp raises on purpose
    ├── InvalidSpec                a job specification that cannot be accepted as written
    ├── Unsatisfiable              a valid request this installation can never run
    ├── NotFound                   an id or name that does not exist
    ├── Unauthenticated            no valid credentials (a TCP request without a token)
    ├── PermissionDenied           the caller may not do this
    ├── OverLimit                  accepting this would exceed a limit (pending jobs)
    ├── InvalidTransition          a job state change the transition table forbids
    ├── ConfigError                a config file that cannot be used
    ├── DaemonUnavailable          the client could not reach the daemon
    └── BackendUnavailable         the daemon could not reach its engine (slurmctld)

Each class carries an HTTP status and a stable code so the API and the CLI report the
same error the same way. This module is imported by the CLI, so it stays stdlib-only.
"""

from __future__ import annotations


class MlrpError(Exception):
    """Root of every deliberate mlrp error; `str(err)` is the message a user sees."""

    status: int = 400
    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSpec(MlrpError):
    status = 422
    code = "invalid_spec"


class Unsatisfiable(MlrpError):
    status = 422
    code = "unsatisfiable"


class NotFound(MlrpError):
    status = 404
    code = "not_found"


class Unauthenticated(MlrpError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(MlrpError):
    status = 403
    code = "permission_denied"


class OverLimit(MlrpError):
    status = 429
    code = "over_limit"


class InvalidTransition(MlrpError):
    status = 409
    code = "invalid_transition"


class ConfigError(MlrpError):
    status = 500
    code = "config_error"


class DaemonUnavailable(MlrpError):
    status = 503
    code = "daemon_unavailable"


class BackendUnavailable(MlrpError):
    status = 503
    code = "backend_unavailable"


ERRORS_BY_CODE: dict[str, type[MlrpError]] = {
    cls.code: cls
    for cls in (
        MlrpError,
        InvalidSpec,
        Unsatisfiable,
        NotFound,
        Unauthenticated,
        PermissionDenied,
        OverLimit,
        InvalidTransition,
        ConfigError,
        DaemonUnavailable,
        BackendUnavailable,
    )
}
