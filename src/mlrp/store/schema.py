"""The database schema, applied idempotently at open."""

# Columns added after the first release: (table, column, type), added to an older
# database at open.
ADDED_COLUMNS = (("jobs", "preempted_by", "INTEGER"), ("jobs", "preempt_cause", "TEXT"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    array_job_id INTEGER,
    array_task_id INTEGER,
    array_throttle INTEGER,
    name TEXT NOT NULL,
    user TEXT NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    account TEXT NOT NULL,
    partition TEXT NOT NULL,
    qos TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'None',
    held INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL,
    gpu_count INTEGER NOT NULL,
    gpu_type TEXT,
    nice INTEGER NOT NULL DEFAULT 0,
    dependency TEXT,
    gpus TEXT NOT NULL DEFAULT '[]',
    submit_time REAL NOT NULL,
    begin_time REAL,
    start_time REAL,
    end_time REAL,
    time_limit INTEGER NOT NULL,
    exit_code INTEGER,
    exit_signal INTEGER,
    priority REAL NOT NULL DEFAULT 0,
    priority_factors TEXT NOT NULL DEFAULT '{}',
    expected_start REAL,
    restart_count INTEGER NOT NULL DEFAULT 0,
    supervisor_pid INTEGER,
    supervisor_started REAL,
    preempted_by INTEGER,
    preempt_cause TEXT,
    message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_active ON jobs(state) WHERE state IN ('PENDING', 'RUNNING');
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user);
CREATE INDEX IF NOT EXISTS jobs_array ON jobs(array_job_id);
CREATE INDEX IF NOT EXISTS jobs_end ON jobs(end_time);

CREATE TABLE IF NOT EXISTS usage (
    account TEXT NOT NULL,
    user TEXT NOT NULL,
    gpu_seconds REAL NOT NULL,
    PRIMARY KEY (account, user)
);

-- Jobs handed to an external engine (the Slurm backend), by the engine's job id: the
-- spec as submitted, which the engine does not keep (command, environment).
CREATE TABLE IF NOT EXISTS external_jobs (
    job_id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    spec TEXT NOT NULL,
    submit_time REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
