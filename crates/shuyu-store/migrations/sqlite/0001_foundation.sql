-- Foundation: organisations, people, sessions, the audit log.
-- Booleans are INTEGER 0/1 and instants are RFC 3339 UTC text with milliseconds on both
-- backends, so the same queries and decoders serve SQLite and PostgreSQL.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    uscc        TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organisations(id),
    username            TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL,
    real_name           TEXT,
    resident_id         TEXT,
    phone               TEXT,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        TEXT,
    disabled            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);

-- One row: how many audit events exist. Every write transaction updates it first, which both
-- serialises writers (so sequence numbers commit in order) and lets the verifier notice rows
-- deleted from the end.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  INTEGER NOT NULL
);
INSERT INTO audit_head (id, size) VALUES (1, 0);

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    time         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    organisation TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    client_addr  TEXT NOT NULL,
    details      TEXT NOT NULL,
    leaf_hash    TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events(actor, seq);
CREATE INDEX audit_events_org ON audit_events(organisation, seq);
CREATE INDEX audit_events_resource ON audit_events(resource, seq);
CREATE INDEX audit_events_action ON audit_events(action, seq);
CREATE INDEX audit_events_time ON audit_events(time);

CREATE TABLE audit_tree_heads (
    size       INTEGER PRIMARY KEY,
    root       TEXT NOT NULL,
    timestamp  TEXT NOT NULL,
    signature  TEXT NOT NULL
);
