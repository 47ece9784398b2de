-- Registration (YXR §14–§27): uploaded materials, applications, objections, certificates,
-- public announcements, and the workflow timers the scheduler fires.
-- Dates (deadlines, validity) are ISO 8601 'YYYY-MM-DD' text; instants as in 0001.

CREATE TABLE attachments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations(id),
    uploaded_by TEXT NOT NULL REFERENCES users(id),
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    content     BYTEA NOT NULL,
    created_at  TEXT NOT NULL
);

-- One current deadline per workflow object; the scheduler fires rows whose due_on has passed.
CREATE TABLE workflow_timers (
    kind        TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    awaiting    TEXT NOT NULL,
    action      TEXT NOT NULL,
    PRIMARY KEY (kind, object_id)
);
CREATE INDEX workflow_timers_due ON workflow_timers(due_on);

CREATE TABLE registrations (
    id                      TEXT PRIMARY KEY,
    query_code              TEXT NOT NULL UNIQUE,
    kind                    TEXT NOT NULL,
    subject_kind            TEXT NOT NULL,
    state                   TEXT NOT NULL,
    applicant_org           TEXT NOT NULL REFERENCES organisations(id),
    applicant_user          TEXT NOT NULL REFERENCES users(id),
    certificate_code        TEXT,
    catalogue_entry_id      TEXT,
    subject_name            TEXT NOT NULL,
    summary                 TEXT NOT NULL,
    industry                TEXT NOT NULL,
    region                  TEXT NOT NULL,
    facts                   TEXT NOT NULL,
    materials               TEXT NOT NULL,
    operation_term_end      TEXT,
    received_on             TEXT NOT NULL,
    accepted_on             TEXT,
    supplement_requested_on TEXT,
    supplement_notices      BIGINT NOT NULL DEFAULT 0,
    missing                 TEXT,
    publicity_from          TEXT,
    publicity_until         TEXT,
    decision_ground         TEXT,
    decision_reason         TEXT,
    overdue_since           TEXT,
    version                 BIGINT NOT NULL DEFAULT 1,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX registrations_applicant ON registrations(applicant_org);
CREATE INDEX registrations_state ON registrations(state);

CREATE TABLE registration_objections (
    id              TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL REFERENCES registrations(id),
    objector_user   TEXT NOT NULL REFERENCES users(id),
    objector_name   TEXT NOT NULL,
    statement       TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    state           TEXT NOT NULL,
    filed_on        TEXT NOT NULL,
    forwarded_on    TEXT,
    answer          TEXT,
    decision_reason TEXT,
    overdue_since   TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX registration_objections_registration ON registration_objections(registration_id);

-- Certificate facts are columns so each is visible to an auditor; the signature covers them all.
CREATE TABLE certificates (
    code                TEXT PRIMARY KEY,
    registration_id     TEXT NOT NULL REFERENCES registrations(id),
    holder_org          TEXT NOT NULL REFERENCES organisations(id),
    version             BIGINT NOT NULL,
    subject_kind        TEXT NOT NULL,
    subject_name        TEXT NOT NULL,
    summary             TEXT NOT NULL,
    holder              TEXT NOT NULL,
    holder_uscc         TEXT NOT NULL,
    industry            TEXT NOT NULL,
    region              TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    issued_on           TEXT NOT NULL,
    valid_from          TEXT NOT NULL,
    valid_until         TEXT NOT NULL,
    operation_term_end  TEXT,
    signature           TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,
    status_changed_on   TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX certificates_holder ON certificates(holder_org);

-- Every signed version of a certificate, kept when a change, correction or renewal replaces it.
CREATE TABLE certificate_versions (
    code            TEXT NOT NULL REFERENCES certificates(code),
    version         BIGINT NOT NULL,
    facts           TEXT NOT NULL,
    signature       TEXT NOT NULL,
    cause           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE certificate_sequences (
    region      TEXT NOT NULL,
    year        BIGINT NOT NULL,
    subject     TEXT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (region, year, subject)
);

-- Public notices: publicity is read from registrations; cancellations and revocations of
-- certificates are announced here (YXR §23).
CREATE TABLE announcements (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    certificate_code TEXT,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    published_on    TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX announcements_published ON announcements(published_on);
