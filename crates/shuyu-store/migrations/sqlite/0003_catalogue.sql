-- The data resource catalogue (SPEC §1, WH §10–§25) and sharing between agencies (WH §18).
-- `published` and `pending` hold an entry's metadata as JSON (the published version and the
-- version being drafted or reviewed); the columns after them copy the published version for
-- filtering.

CREATE TABLE catalogue_entries (
    id                  TEXT PRIMARY KEY,
    holder_org          TEXT NOT NULL REFERENCES organisations(id),
    state               TEXT NOT NULL,
    published           TEXT,
    pending             TEXT,
    name                TEXT NOT NULL,
    industry            TEXT,
    region              TEXT,
    update_frequency    TEXT,
    share_class         TEXT,
    open_class          TEXT,
    level               INTEGER,
    grade               TEXT,
    submitted_on        TEXT,
    changed_on          TEXT,
    late_submission     INTEGER NOT NULL DEFAULT 0,
    decision_reason     TEXT,
    overdue_since       TEXT,
    open_data           TEXT,
    published_version   INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX catalogue_entries_holder ON catalogue_entries(holder_org);
CREATE INDEX catalogue_entries_state ON catalogue_entries(state);

-- Every approved version, for history and for what a past decision saw.
CREATE TABLE catalogue_versions (
    entry_id    TEXT NOT NULL REFERENCES catalogue_entries(id),
    version     INTEGER NOT NULL,
    metadata    TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
);

CREATE TABLE sharing_requests (
    id                  TEXT PRIMARY KEY,
    entry_id            TEXT NOT NULL REFERENCES catalogue_entries(id),
    provider_org        TEXT NOT NULL REFERENCES organisations(id),
    requester_org       TEXT NOT NULL REFERENCES organisations(id),
    requester_user      TEXT NOT NULL REFERENCES users(id),
    purpose             TEXT NOT NULL,
    fields              TEXT NOT NULL,
    state               TEXT NOT NULL,
    submitted_on        TEXT NOT NULL,
    stage_started_on    TEXT NOT NULL,
    decision_reason     TEXT,
    overdue_since       TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX sharing_requests_requester ON sharing_requests(requester_org);
CREATE INDEX sharing_requests_provider ON sharing_requests(provider_org);
