-- Expert review of operator applications (WX §9, SPEC §3.3) and the publicity of results.
CREATE TABLE operator_scores (
    application_id  TEXT NOT NULL REFERENCES operator_applications(id),
    expert_user     TEXT NOT NULL REFERENCES users(id),
    score           INTEGER NOT NULL,
    comments        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (application_id, expert_user)
);

ALTER TABLE operator_announcements ADD COLUMN results_from TEXT;
ALTER TABLE operator_announcements ADD COLUMN results_until TEXT;
