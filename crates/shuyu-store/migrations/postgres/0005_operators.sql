-- Operators and authorization (SPEC §3): programmes, announcements, applications, agreements,
-- the authority's lists, revocations, and each organisation's standing.

ALTER TABLE organisations ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE organisations ADD COLUMN status_reason TEXT;
ALTER TABLE organisations ADD COLUMN rectify_by TEXT;

CREATE TABLE programmes (
    id              TEXT PRIMARY KEY,
    version         BIGINT NOT NULL,
    supersedes      TEXT,
    owner_org       TEXT NOT NULL REFERENCES organisations(id),
    state           TEXT NOT NULL,
    content         TEXT NOT NULL,
    decision_record TEXT,
    submitted_on    TEXT,
    approved_on     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE operator_announcements (
    id              TEXT PRIMARY KEY,
    programme_id    TEXT NOT NULL REFERENCES programmes(id),
    title           TEXT NOT NULL,
    opens_on        TEXT NOT NULL,
    closes_on       TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE operator_applications (
    id              TEXT PRIMARY KEY,
    announcement_id TEXT NOT NULL REFERENCES operator_announcements(id),
    applicant_org   TEXT NOT NULL REFERENCES organisations(id),
    applicant_user  TEXT NOT NULL REFERENCES users(id),
    declarations    TEXT NOT NULL,
    materials       TEXT NOT NULL,
    state           TEXT NOT NULL,
    submitted_on    TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- The authority's lists (失信被执行人, 重大税收违法案件当事人), keyed by USCC.
CREATE TABLE listed_organisations (
    uscc        TEXT NOT NULL,
    list        TEXT NOT NULL,
    source      TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (uscc, list)
);

CREATE TABLE revocations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations(id),
    revoked_on  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX revocations_org ON revocations(org_id);

CREATE TABLE agreements (
    id                  TEXT PRIMARY KEY,
    programme_id        TEXT NOT NULL REFERENCES programmes(id),
    operator_org        TEXT NOT NULL REFERENCES organisations(id),
    agency_org          TEXT NOT NULL REFERENCES organisations(id),
    content             TEXT NOT NULL,
    term_years          BIGINT NOT NULL,
    valid_from          TEXT NOT NULL,
    valid_until         TEXT NOT NULL,
    state               TEXT NOT NULL,
    agency_signed_on    TEXT,
    operator_signed_on  TEXT,
    filed_on            TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX agreements_operator ON agreements(operator_org);
