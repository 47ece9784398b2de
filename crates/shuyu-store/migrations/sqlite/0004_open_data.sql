-- Applications for conditional open data (WH §24).
CREATE TABLE open_data_applications (
    id              TEXT PRIMARY KEY,
    entry_id        TEXT NOT NULL REFERENCES catalogue_entries(id),
    holder_org      TEXT NOT NULL REFERENCES organisations(id),
    applicant_org   TEXT NOT NULL REFERENCES organisations(id),
    applicant_user  TEXT NOT NULL REFERENCES users(id),
    purpose         TEXT NOT NULL,
    state           TEXT NOT NULL,
    submitted_on    TEXT NOT NULL,
    decision_reason TEXT,
    overdue_since   TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX open_data_applications_applicant ON open_data_applications(applicant_org);
CREATE INDEX open_data_applications_holder ON open_data_applications(holder_org);
