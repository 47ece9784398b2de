-- The sandbox (SPEC §4): stored dataset versions with their evidence, data requests and the
-- grants they become, workspaces, and every query run in one (for audit and metering).
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    entry_id    TEXT NOT NULL REFERENCES catalogue_entries(id),
    version     BIGINT NOT NULL,
    holder_org  TEXT NOT NULL REFERENCES organisations(id),
    evidence    TEXT NOT NULL,
    path        TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    UNIQUE (entry_id, version)
);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    operator_org  TEXT NOT NULL REFERENCES organisations(id),
    agreement_id  TEXT NOT NULL REFERENCES agreements(id),
    workspace_id  TEXT,
    request       TEXT NOT NULL,
    reviews       TEXT NOT NULL,
    granted       TEXT,
    state         TEXT NOT NULL,
    sealed        BIGINT NOT NULL DEFAULT 0,
    reason        TEXT,
    requested_by  TEXT NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX grants_operator ON grants(operator_org);

CREATE TABLE workspaces (
    id            TEXT PRIMARY KEY,
    operator_org  TEXT NOT NULL REFERENCES organisations(id),
    agreement_id  TEXT NOT NULL REFERENCES agreements(id),
    name          TEXT NOT NULL,
    members       TEXT NOT NULL,
    masking_key   TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE workspace_queries (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    operator_org   TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id),
    statement      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    rows_returned  BIGINT NOT NULL,
    cpu_ms         BIGINT NOT NULL,
    bytes_scanned  BIGINT NOT NULL,
    elapsed_ms     BIGINT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX workspace_queries_workspace ON workspace_queries(workspace_id);
