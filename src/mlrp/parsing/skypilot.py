"""SkyPilot-style task YAML -> the fields of a `JobSpec`.

Contract: `spec_from_task_yaml(text, environ=..., source=...)` reads one task:

* `name`                          -> "name"
* `resources.accelerators`        "A100:2", {"A100": 2} or "A100" (one GPU) -> "gpus" and
                                  "gpu_type" (lower-cased); one model only, whole GPUs
* `resources.cpus`                4, "4" or "4+" (at least 4: we take 4) -> "cpus_per_task"
* `resources.memory`              GB, e.g. 32, "32", "32+" or 0.5 -> "mem_mb" (x 1024)
* `envs`                          a mapping laid over `environ` -> "env" (always set);
                                  values are stringified (true -> "true"); a null value
                                  is taken from `environ` and is an error when unset there
* `workdir`                       -> "workdir"
* `setup`, `run`                  -> "script": "#!/bin/bash\\nset -e\\n" + setup + run
* `num_nodes`                     1 only (more needs the Slurm backend)

Unknown keys (top level or under `resources`), a missing `run`, wrong types and YAML
syntax errors (with their line) raise `InvalidSpec` naming `source`. `yaml` is imported
inside the function so the CLI does not pay for it at start-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from mlrp.errors import InvalidSpec

Fields = dict[str, object]

TOP_LEVEL_KEYS = frozenset({"name", "resources", "envs", "workdir", "setup", "run", "num_nodes"})
RESOURCE_KEYS = frozenset({"accelerators", "cpus", "memory"})
SCRIPT_HEADER = "#!/bin/bash\nset -e\n"

_GPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_AT_LEAST = re.compile(r"([0-9]+(?:\.[0-9]+)?)\+?")


def spec_from_task_yaml(text: str, *, environ: Mapping[str, str], source: str) -> Fields:
    """JobSpec fields for a SkyPilot task YAML document."""
    task = _load(text, source)
    _reject_unknown(task, TOP_LEVEL_KEYS, "", source)
    _check_nodes(task.get("num_nodes", 1), source)
    fields: Fields = {}
    if task.get("name") is not None:
        fields["name"] = _scalar_text(task["name"], "name", source)
    if task.get("workdir") is not None:
        fields["workdir"] = _string(task["workdir"], "workdir", source)
    fields.update(_resources(task.get("resources"), source))
    fields["env"] = _environment(task.get("envs"), environ, source)
    fields["script"] = _script(task.get("setup"), task.get("run"), source)
    return fields


def _load(text: str, source: str) -> dict[str, object]:
    import yaml  # lazily: the CLI must start fast

    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        line = f" at line {err.problem_mark.line + 1}" if err.problem_mark else ""
        raise InvalidSpec(f"{source}: invalid YAML{line}: {err.problem or err}") from err
    except yaml.YAMLError as err:
        raise InvalidSpec(f"{source}: invalid YAML: {err}") from err
    if not isinstance(data, dict):
        raise InvalidSpec(f"{source}: expected a task (a mapping of name, resources, run, ...)")
    return {str(key): value for key, value in data.items()}


def _reject_unknown(
    mapping: Mapping[str, object], known: frozenset[str], prefix: str, source: str
) -> None:
    unknown = sorted(prefix + key for key in mapping if key not in known)
    if unknown:
        allowed = ", ".join(prefix + key for key in sorted(known))
        raise InvalidSpec(
            f"{source}: unsupported key(s) {', '.join(unknown)} (supported: {allowed})"
        )


def _string(value: object, key: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec(f"{source}: {key} must be a non-empty string, not {value!r}")
    return value


def _scalar_text(value: object, key: str, source: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidSpec(f"{source}: {key} must be text, not {value!r}")
    return _string(str(value), key, source)


def _check_nodes(value: object, source: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSpec(
            f"{source}: num_nodes must be a whole number of at least 1, not {value!r}"
        )
    if value > 1:
        raise InvalidSpec(
            f"{source}: num_nodes: {value} — multi-node tasks need the Slurm backend; "
            "mlrp runs on one node"
        )


# ------------------------------------------------------------------------- resources


def _resources(value: object, source: str) -> Fields:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidSpec(f"{source}: resources must be a mapping, not {value!r}")
    resources = {str(key): item for key, item in value.items()}
    _reject_unknown(resources, RESOURCE_KEYS, "resources.", source)
    fields: Fields = {}
    if resources.get("accelerators") is not None:
        fields.update(_accelerators(resources["accelerators"], source))
    if resources.get("cpus") is not None:
        fields["cpus_per_task"] = _cpus(resources["cpus"], source)
    if resources.get("memory") is not None:
        fields["mem_mb"] = _memory(resources["memory"], source)
    return fields


def _accelerators(value: object, source: str) -> Fields:
    choices = _accelerator_choices(value, source)
    if len(choices) != 1:
        raise InvalidSpec(
            f"{source}: resources.accelerators {value!r}: give exactly one GPU model, e.g. A100:2"
        )
    model, count = choices[0]
    if _GPU_MODEL.fullmatch(model.strip()) is None:
        raise InvalidSpec(
            f"{source}: resources.accelerators {value!r}: {model!r} is not a GPU model"
        )
    return {"gpus": _gpu_count(count, value, source), "gpu_type": model.strip().lower()}


def _accelerator_choices(value: object, source: str) -> list[tuple[str, object]]:
    """(model, count) for each alternative SkyPilot would accept."""
    if isinstance(value, str):
        model, colon, count = value.partition(":")
        return [(model, count if colon else 1)]
    if isinstance(value, dict):
        return [(str(model), 1 if count is None else count) for model, count in value.items()]
    if isinstance(value, list):
        return [choice for item in value for choice in _accelerator_choices(item, source)]
    raise InvalidSpec(
        f"{source}: resources.accelerators must be like 'A100:2' or {{A100: 2}}, not {value!r}"
    )


def _gpu_count(count: object, value: object, source: str) -> int:
    number = _number(count)
    if number is None or number < 1 or number != math.floor(number) or number > 4096:
        raise InvalidSpec(
            f"{source}: resources.accelerators {value!r}: the GPU count must be a whole number "
            "of at least 1 (fractional GPUs are not supported)"
        )
    return int(number)


def _number(value: object) -> float | None:
    """A finite number from 4, 4.5, "4", "4+" or "4.5+"; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = _AT_LEAST.fullmatch(value.strip())
        return float(match.group(1)) if match else None
    return None


def _cpus(value: object, source: str) -> int:
    number = _number(value)
    if number is None or number < 1 or number != math.floor(number) or number > 100_000:
        raise InvalidSpec(
            f"{source}: resources.cpus {value!r}: expected a whole number of CPUs such as 4 or '4+'"
        )
    return int(number)


def _memory(value: object, source: str) -> int:
    number = _number(value)
    if number is None or number <= 0 or number > 2**20:
        raise InvalidSpec(
            f"{source}: resources.memory {value!r}: expected gigabytes such as 32 or '32+'"
        )
    return max(1, math.ceil(number * 1024))


# ------------------------------------------------------------------ envs and script


def _environment(value: object, environ: Mapping[str, str], source: str) -> dict[str, str]:
    env = dict(environ)
    if value is None:
        return env
    if not isinstance(value, dict):
        raise InvalidSpec(f"{source}: envs must be a mapping of NAME: value, not {value!r}")
    for name, item in value.items():
        env[str(name)] = _env_value(str(name), item, environ, source)
    return env


def _env_value(name: str, value: object, environ: Mapping[str, str], source: str) -> str:
    if value is None:
        if name not in environ:
            raise InvalidSpec(f"{source}: envs.{name} has no value and {name} is not set")
        return environ[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidSpec(f"{source}: envs.{name} must be text or a number, not {value!r}")


def _script(setup: object, run: object, source: str) -> str:
    if run is None:
        raise InvalidSpec(f"{source}: the task has no run commands")
    parts = [] if setup is None or setup == "" else [_string(setup, "setup", source)]
    parts.append(_string(run, "run", source))
    return SCRIPT_HEADER + "\n".join(part.rstrip("\n") for part in parts) + "\n"
