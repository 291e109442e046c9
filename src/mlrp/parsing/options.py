"""What the CLI must know of sbatch's options to split a command line, and nothing more.

`mlrp submit` and `mlrp run` only split their tokens into sbatch options and the rest
(the daemon parses the options: mlrp.parsing.request). Splitting needs to know which
options never take the next token as their value; that table lives here, in a module
that imports nothing, so that the CLI loads neither `re` nor mlrp.parsing.sbatch.
mlrp.parsing.sbatch imports it and checks it against its own option table.
"""

VALUELESS_OPTIONS = frozenset(
    {"--hold", "-H", "--nice", "--no-requeue", "--requeue", "--slurm-env"}
)
"""Options that never consume the next token: the flags, and --nice, whose value can
only be attached (`--nice=5`)."""
