-- Oversight of operators and processors: annual operation reports (WX §18), annual evaluations
-- with grades (WX §29, JS §17, CS §19), processors bound to agreements (CS §15, §19), and
-- emergency plans (WX §26).

CREATE TABLE operation_reports (
    id                TEXT PRIMARY KEY,
    operator_org      TEXT NOT NULL REFERENCES organisations(id),
    year              INTEGER NOT NULL,
    content           TEXT NOT NULL,
    platform_figures  TEXT NOT NULL,
    submitted_on      TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (operator_org, year)
);

CREATE TABLE evaluations (
    id          TEXT PRIMARY KEY,
    subject_org TEXT NOT NULL REFERENCES organisations(id),
    year        INTEGER NOT NULL,
    grade       TEXT NOT NULL,
    evaluator   TEXT NOT NULL,
    report      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (subject_org, year)
);

CREATE TABLE agreement_processors (
    agreement_id    TEXT NOT NULL REFERENCES agreements(id),
    processor_org   TEXT NOT NULL REFERENCES organisations(id),
    selected_on     TEXT NOT NULL,
    valid_until     TEXT NOT NULL,
    status          TEXT NOT NULL,
    PRIMARY KEY (agreement_id, processor_org)
);

CREATE TABLE emergency_plans (
    org_id          TEXT PRIMARY KEY REFERENCES organisations(id),
    attachment_id   TEXT NOT NULL,
    submitted_on    TEXT NOT NULL,
    approved_on     TEXT
);
