-- Inspections and rectification (JS §21, YXO §34), processors' quarterly security reports
-- (CS §24), and the public's requests for data not yet in the catalogue (transparency).

CREATE TABLE inspections (
    id            TEXT PRIMARY KEY,
    subject_org   TEXT NOT NULL REFERENCES organisations(id),
    title         TEXT NOT NULL,
    scope         TEXT NOT NULL,
    planned_on    TEXT NOT NULL,
    state         TEXT NOT NULL,
    conducted_on  TEXT,
    summary       TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX inspections_subject ON inspections(subject_org);

CREATE TABLE inspection_findings (
    id             TEXT PRIMARY KEY,
    inspection_id  TEXT NOT NULL REFERENCES inspections(id),
    subject_org    TEXT NOT NULL REFERENCES organisations(id),
    description    TEXT NOT NULL,
    severity       TEXT NOT NULL,
    rectify_by     TEXT NOT NULL,
    state          TEXT NOT NULL,
    rectification  TEXT,
    submitted_at   TEXT,
    decided_at     TEXT,
    decision       TEXT,
    overdue        BIGINT NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
CREATE INDEX inspection_findings_inspection ON inspection_findings(inspection_id);
CREATE INDEX inspection_findings_due ON inspection_findings(state, rectify_by);

CREATE TABLE security_reports (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations(id),
    quarter       TEXT NOT NULL,
    content       TEXT NOT NULL,
    figures       TEXT NOT NULL,
    submitted_on  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (org_id, quarter)
);

CREATE TABLE public_data_requests (
    id              TEXT PRIMARY KEY,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    requester       TEXT NOT NULL,
    contact         TEXT NOT NULL,
    department_org  TEXT REFERENCES organisations(id),
    state           TEXT NOT NULL,
    received_on     TEXT NOT NULL,
    due_on          TEXT NOT NULL,
    overdue         BIGINT NOT NULL DEFAULT 0,
    outcome         TEXT,
    answer          TEXT,
    answered_on     TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX public_data_requests_state ON public_data_requests(state, due_on);
