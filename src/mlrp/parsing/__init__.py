"""Pure, stdlib-only parsers for job specifications (Slurm and SkyPilot vocabulary).

Contract shared by every module here:

* Functions are pure: no I/O, no clock (the current time is passed in as ``now``), no
  environment lookups (the environment is passed in as ``environ``).
* Bad input raises `mlrp.errors.InvalidSpec` with a message that names the option and
  quotes the offending text; no `ValueError` or `IndexError` escapes.
* Importing any module here costs only the standard library (the CLI imports them and
  must start fast); `yaml` is imported lazily inside `skypilot.spec_from_task_yaml`.

Modules:

* `slurmtime`   --time / --begin / --mem values, and squeue-style duration display.
* `arrays`      --array index specifications ("0-15:4,20%2").
* `dependency`  --dependency specifications ("afterok:12:13?afterany:14_2").
* `patterns`    --output / --error filename patterns ("slurm-%A_%4a.out").
* `options`     which sbatch options take no value (imports nothing: the CLI splits its
                tokens with it).
* `sbatch`      #SBATCH directives and sbatch-style options -> a JobSpec field dict.
* `request`     a whole `mlrp submit`/`run` request (options, script or task file text,
                command) -> a JobSpec field dict; run by the daemon, and by --dry-run.
* `topology`    Slurm's topology.conf and hostlist expressions.
* `skypilot`    SkyPilot-style task YAML -> a JobSpec field dict.
"""
