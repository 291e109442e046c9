"""`mlrp submit` and `mlrp run`: job options exactly as sbatch/srun take them.

    mlrp submit [OPTIONS] script.sh [ARGS...]    a batch script; its #SBATCH lines count,
                                                 OPTIONS given here override them
    mlrp submit [OPTIONS] task.yaml              a SkyPilot-style task
    mlrp submit [OPTIONS] -- COMMAND [ARGS...]   a command
    mlrp submit [OPTIONS] --wrap "COMMAND"       a command line run by /bin/sh
    mlrp run [OPTIONS] [--] COMMAND [ARGS...]    submit, stream the output, exit with the
                                                 job's exit code (Ctrl-C cancels the job)

OPTIONS are sbatch's (--gpus, --gres, --time, --account, --array, --dependency...), plus
--parsable (print only the id), --dry-run (submit nothing: print the spec or, when the
daemon drives Slurm, the sbatch script it would submit) and --as-user USER (admins:
submit for USER; personal mode: a fair-share label).
"""

from __future__ import annotations

import os
import sys
import time

from mlrp.client import Client
from mlrp.errors import DaemonUnavailable, InvalidSpec, MlrpError
from mlrp.parsing.options import VALUELESS_OPTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any

CLI_FLAGS = {"--parsable", "--dry-run"}


def main(command: str, tokens: list[str]) -> int:
    """`submit` and `run` take sbatch's options, not the CLI parser's: main() routes their
    raw tokens here. The daemon parses them (POST /api/v1/jobs/sbatch): this module only
    splits them and reads a script or task file, with the user's own permissions, so a
    call loads no parser (nor `re`)."""
    if not tokens or tokens[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if tokens else 2
    try:
        request, flags = build_request(command, tokens)
        if "--dry-run" in flags:
            _print_spec(request)
            return 0
        client = Client()
        submitted = client.submit_request(request)
        if command == "run":
            return attach(client, submitted["ids"][0])
        _report(submitted, parsable="--parsable" in flags)
        return 0
    except MlrpError as e:
        print(f"mlrp {command}: error: {e}", file=sys.stderr)
        return 1


def _report(submitted: dict[str, Any], *, parsable: bool) -> None:
    ids = submitted["ids"]
    shown = str(ids[0]) if len(ids) == 1 else f"{ids[0]}_[{len(ids)} tasks]"
    print(ids[0] if parsable else f"Submitted job {shown}")


def _print_spec(request: dict[str, Any]) -> None:
    """--dry-run: what the daemon would build of the request: on the Slurm backend the
    sbatch script it would submit, else the spec's fields. Without a daemon, the fields
    are built here by the same function (mlrp.parsing.request), with this process's
    clock and time zone."""
    import json

    try:
        plan = Client().plan(request)
    except DaemonUnavailable:
        from mlrp.parsing.request import spec_from_request

        plan = {"backend": "local", "fields": spec_from_request(now=time.time(), **request)}
    if plan["backend"] == "slurm":
        sys.stdout.write(plan["script"])
    else:
        print(json.dumps(plan["fields"], indent=1))


def build_request(command: str, tokens: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The body of POST /api/v1/jobs/sbatch (mlrp.api.schemas.SbatchRequest) for
    `mlrp COMMAND TOKENS...`, and mlrp's own flags among the tokens. A script or task
    file is read here, as the user; the daemon gets its text."""
    options, rest, flags = split_tokens(tokens)
    request: dict[str, Any] = {
        "command": command,
        "options": options,
        "rest": rest,
        "environ": dict(os.environ),
        "workdir": os.getcwd(),
    }
    if flags.get("--"):
        request["after_double_dash"] = True
    elif command == "submit" and rest and _is_file(rest[0]):
        request["file_name"] = rest[0]
        request["file_text"] = _read(rest[0])
        request["rest"] = rest[1:]
    if "as_user" in flags:
        request["as_user"] = flags["as_user"]
    return request, set(flags)


SCRIPT_SUFFIXES = (".sh", ".bash", ".sbatch", ".slurm", ".yaml", ".yml")


def _is_file(name: str) -> bool:
    """True for an existing file; a missing one that looks like a script is an error
    (as sbatch's "unable to open file"), not a command to try at run time."""
    if os.path.isfile(name):
        return True
    if name.endswith(SCRIPT_SUFFIXES):
        raise InvalidSpec(f"no such batch script or task file: {name}")
    return False


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidSpec(f"cannot read {path}: {e}") from e


def split_tokens(tokens: list[str]) -> tuple[list[str], list[str], dict[str, Any]]:
    """Split `[OPTIONS] [--] REST...` into sbatch options, the rest, and mlrp's own flags."""
    options: list[str] = []
    flags: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            flags["--"] = True
            return options, tokens[i + 1 :], flags
        if not token.startswith("-") or token == "-":
            return options, tokens[i:], flags
        if token in CLI_FLAGS:
            flags[token] = True
        elif token == "--as-user" or token.startswith("--as-user="):
            value, i = _value(tokens, i)
            flags["as_user"] = value
        elif "=" in token or token in VALUELESS_OPTIONS or _attached_short(token):
            options.append(token)
        else:
            value, i = _value(tokens, i)
            options += [token, value]
        i += 1
    return options, [], flags


def _attached_short(token: str) -> bool:
    """`-G2`, `-t10`: a short option with its value attached."""
    return not token.startswith("--") and len(token) > 2


def _value(tokens: list[str], i: int) -> tuple[str, int]:
    token = tokens[i]
    if "=" in token:
        return token.split("=", 1)[1], i
    if i + 1 >= len(tokens):
        raise InvalidSpec(f"option {token} needs a value")
    return tokens[i + 1], i + 1


def attach(client: Client, job_id: int) -> int:
    """Stream the job's stdout and stderr until it ends; return its exit status."""
    from mlrp.models.states import JobState

    job = client.job(job_id)
    # stdout and stderr may be one file (--output alone): stream it once.
    streams = ["out"] if job["stdout_path"] == job["stderr_path"] else ["out", "err"]
    offsets = {"out": 0, "err": 0}
    sinks = {"out": sys.stdout.buffer, "err": sys.stderr.buffer}
    try:
        while True:
            state, moved = _pump(client, job_id, streams, offsets, sinks)
            if JobState(state).is_terminal and not moved:
                return _exit_status(client.job(job_id))
            if not moved:
                time.sleep(0.1)
    except KeyboardInterrupt:
        client.cancel([str(job_id)])
        print(f"\nmlrp run: cancelled job {job_id}", file=sys.stderr)
        return 130


def _pump(
    client: Client,
    job_id: int,
    streams: list[str],
    offsets: dict[str, int],
    sinks: dict[str, Any],
) -> tuple[str, bool]:
    """Copy what each stream gained since the last call; (job state, anything copied)."""
    state, moved = "PENDING", False
    for stream in streams:
        data, offsets[stream], state = client.logs(job_id, stream=stream, offset=offsets[stream])
        if data:
            sinks[stream].write(data)
            sinks[stream].flush()
            moved = True
    return state, moved


def _exit_status(job: dict[str, Any]) -> int:
    if job["state"] == "COMPLETED":
        return 0
    if job["exit_code"]:
        return int(job["exit_code"])
    if job["exit_signal"]:
        return 128 + int(job["exit_signal"])
    print(f"mlrp run: job {job['id']} ended {job['state']}", file=sys.stderr)
    return 1
