-- Objections to the publicised selection of operators (WX §9), decided by the implementing agency.
CREATE TABLE selection_objections (
    id              TEXT PRIMARY KEY,
    announcement_id TEXT NOT NULL REFERENCES operator_announcements(id),
    application_id  TEXT NOT NULL REFERENCES operator_applications(id),
    objector_user   TEXT NOT NULL REFERENCES users(id),
    objector_name   TEXT NOT NULL,
    statement       TEXT NOT NULL,
    state           TEXT NOT NULL,
    decision_reason TEXT,
    filed_on        TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX selection_objections_announcement ON selection_objections(announcement_id);
