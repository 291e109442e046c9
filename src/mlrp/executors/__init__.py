"""Executors: run jobs on this machine, safely, surviving daemon restarts.

The daemon decides which job runs on which GPUs; an executor starts it and reports how
it ended. `base` holds the shared types and the `Executor` protocol, `local` the real
implementation (one standalone `supervisor` process per job, which outlives the daemon),
`fake` an in-memory one for tests of daemon logic, and `environment` builds a job's
environment variables.

Importing this package imports nothing else: pick the module you need.
"""
