"""The submit form -> the request `mlrp submit` sends (POST /api/v1/jobs/sbatch).

The form's fields become sbatch options (`--gpus=2`, `--time=1:00:00`...), the command
line is split as a shell would split it, and a pasted batch script travels as the text
of a file, exactly as the CLI sends a script it read: the daemon parses all of it with
the same parser, so the form gets the CLI's error messages. A browser has no shell: the
job starts in the user's home directory with a login-like environment (HOME, USER,
LOGNAME, SHELL, PATH).
"""

from __future__ import annotations

import pwd
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from mlrp.api.schemas import SbatchRequest
from mlrp.config import describe_validation
from mlrp.errors import InvalidSpec

SCRIPT_NAME = "web-submit.sh"  # how a pasted script is named to the parser
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

# form field -> the sbatch option it sets
OPTIONS = {
    "gpus": "--gpus",
    "time": "--time",
    "name": "--job-name",
    "account": "--account",
    "partition": "--partition",
    "qos": "--qos",
    "array": "--array",
    "dependency": "--dependency",
}


@dataclass(frozen=True, slots=True)
class SubmitForm:
    """The form as typed (the page shows it again, as it was, next to an error)."""

    command: str = ""
    script: str = ""
    gpus: str = ""
    time: str = ""
    name: str = ""
    account: str = ""
    partition: str = ""
    qos: str = ""
    array: str = ""
    dependency: str = ""
    extra: str = ""  # more sbatch options, as on a command line
    hold: bool = False

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> SubmitForm:
        text = {name: fields.get(name, "").strip() for name in (*OPTIONS, "command", "extra")}
        script = fields.get("script", "").replace("\r\n", "\n")
        return cls(**text, script=script, hold=fields.get("hold") == "on")

    def values(self) -> dict[str, Any]:
        return asdict(self)


def sbatch_request(form: SubmitForm, *, user: str) -> dict[str, Any]:
    """The body of POST /api/v1/jobs/sbatch for `form`, validated as the API validates
    it. InvalidSpec when it is not a request at all (nothing to run, both a command and
    a script, a command line that cannot be split)."""
    has_script = bool(form.script.strip())
    if bool(form.command) == has_script:
        raise InvalidSpec(
            "give a command or paste a batch script, not both"
            if has_script
            else "nothing to run: give a command or paste a batch script"
        )
    options = [
        f"{flag}={getattr(form, key)}" for key, flag in OPTIONS.items() if getattr(form, key)
    ]
    options += _split(form.extra, "the extra options")
    if form.hold:
        options.append("--hold")
    home, environ = login_environment(user)
    body: dict[str, Any] = {"options": options, "environ": environ, "workdir": home}
    if has_script:
        body.update(file_name=SCRIPT_NAME, file_text=form.script)
    else:
        body.update(rest=_split(form.command, "the command"), after_double_dash=True)
    try:
        return SbatchRequest.model_validate(body).model_dump()
    except ValidationError as e:
        raise InvalidSpec(describe_validation(e)) from e


def _split(text: str, what: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as e:
        raise InvalidSpec(f"{what} cannot be split into words: {e}") from e


def login_environment(user: str) -> tuple[str, dict[str, str]]:
    """(home directory, environment) of a fresh login of `user`."""
    try:
        entry = pwd.getpwnam(user)
    except (KeyError, ValueError) as e:  # ValueError: a NUL in the name
        raise InvalidSpec(f"no Unix user named {user!r} on this machine") from e
    home = entry.pw_dir or "/"
    environ = {
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "SHELL": entry.pw_shell or "/bin/sh",
        "PATH": DEFAULT_PATH,
    }
    return home, environ
