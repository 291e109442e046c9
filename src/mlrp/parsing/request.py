"""`mlrp submit` / `mlrp run` as the user typed them -> the fields of a `JobSpec`.

The CLI only splits its tokens (sbatch options, the rest) and, for a batch script or a
task YAML, reads the file with the user's own permissions; the daemon turns that into a
spec with `spec_from_request` (POST /api/v1/jobs/sbatch), and so does `--dry-run`,
locally. Pure, as every module here: the file comes as its text and name (nothing here
opens a path), the environment, working directory and time are passed in.

Errors are `InvalidSpec`, with the messages of mlrp.parsing.sbatch and .skypilot.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from mlrp.errors import InvalidSpec
from mlrp.parsing.sbatch import Fields, spec_from_command, spec_from_script

TASK_SUFFIXES = (".yaml", ".yml")


def spec_from_request(
    command: str,
    options: list[str],
    rest: list[str],
    *,
    environ: Mapping[str, str],
    workdir: str,
    now: float,
    file_name: str | None = None,
    file_text: str | None = None,
    as_user: str | None = None,
    after_double_dash: bool = False,
) -> Fields:
    """JobSpec fields for `mlrp COMMAND [options] [--] REST...`.

    `options`: the sbatch option tokens. `rest`: the command (and its arguments) or,
    when a file is given, the script's arguments. `file_name` and `file_text`: the
    script or task YAML named on the command line (as written there) and its text.
    `after_double_dash`: the rest followed `--` (it is then a command, never a file).
    `workdir`: the caller's working directory, the job's unless --chdir says otherwise.
    `as_user`: `--as-user`."""
    if (file_name is None) != (file_text is None):
        raise InvalidSpec("give both the name and the text of the script or task file")
    if file_name is not None and file_text is not None:
        if command != "submit" or after_double_dash:
            where = "after --" if after_double_dash else f"to `mlrp {command}`"
            raise InvalidSpec(f"a batch script or task file cannot be given {where}")
        spec = _from_file(file_name, file_text, rest, options, environ, now)
    elif rest:
        spec = spec_from_command(rest, cli_tokens=options, environ=environ, now=now)
    elif any(o.startswith("--wrap") for o in options):
        spec = spec_from_command([], cli_tokens=options, environ=environ, now=now)
    else:
        raise InvalidSpec(
            f"nothing to run: give a script, a task YAML or -- COMMAND "
            f"(see `mlrp {command} --help`)"
        )
    spec.setdefault("workdir", workdir)
    if as_user is not None:
        spec["as_user"] = as_user
    return spec


def _from_file(
    name: str,
    text: str,
    args: list[str],
    options: list[str],
    environ: Mapping[str, str],
    now: float,
) -> Fields:
    if name.endswith(TASK_SUFFIXES):
        from mlrp.parsing.skypilot import spec_from_task_yaml

        spec = spec_from_task_yaml(text, environ=environ, source=name)
        override = spec_from_command(["true"], cli_tokens=options, environ={}, now=now)
        override.pop("argv", None)
        override.pop("env", None)
        return {**spec, **override}
    spec = spec_from_script(
        text, cli_tokens=options, script_args=args, environ=environ, now=now, source=name
    )
    spec.setdefault("name", posixpath.basename(name))
    return spec
