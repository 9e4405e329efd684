-- The first schema of serve's store. Kept to SQL that PostgreSQL reads too, except for the
-- generated ids (SQLite's INTEGER PRIMARY KEY; PostgreSQL's migrations will use identity
-- columns). Times are milliseconds since the Unix epoch.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- A token is `dm_<id>_<secret>`: the id finds the row, the secret's SHA-256 is compared in
-- constant time. The secret itself is never stored.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    -- The environment the job runs in; '' for an inventory without environments. Jobs of one
    -- environment run one at a time, in id order.
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    user_name TEXT NOT NULL,
    -- The request as accepted (arguments, hosts, roles, check, diff), JSON.
    request TEXT NOT NULL,
    -- The run's report (redacted JSON) once it ended, and why it could not run at all.
    report TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX jobs_by_status ON jobs (status, environment, id);

-- A job's events in order: `seq` counts from 1 per job and is the SSE event id.
CREATE TABLE job_events (
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Every request that changes something: who, what, from where, and how it ended.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    user_name TEXT,
    remote TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL
);
