-- Supervision (SPEC §6): alerts raised by the monitoring rules over the audit log (JS §24,
-- WH §33), the monitor's position in the log, the log's retention guard (YXO §19), and the data
-- quality loop (JS §20, YXO §10, §23, WX §13).

CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    related     TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    observed    TEXT NOT NULL,
    state       TEXT NOT NULL,
    resolution  TEXT,
    handled_by  TEXT,
    handled_at  TEXT,
    raised_at   TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX alerts_state ON alerts(state, created_at);
CREATE INDEX alerts_subject ON alerts(rule, subject, state);

-- How many audit events the monitor has read.
CREATE TABLE monitor_cursor (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL
);
INSERT INTO monitor_cursor (id, seq) VALUES (1, 0);

-- YXO §19: events are kept at least this many years. The server raises it to the profile's
-- value at start; nothing may lower it, and the database itself refuses to change an event or
-- to delete one younger than this (measured by the database's own clock), whoever asks.
CREATE TABLE audit_retention (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    years  BIGINT NOT NULL CHECK (years >= 2)
);
INSERT INTO audit_retention (id, years) VALUES (1, 2);

CREATE FUNCTION shuyu_audit_retention_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit retention period cannot be removed (YXO §19)';
    END IF;
    IF NEW.years < OLD.years THEN
        RAISE EXCEPTION 'the audit retention period cannot be shortened (YXO §19)';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_retention_guard BEFORE UPDATE OR DELETE ON audit_retention
    FOR EACH ROW EXECUTE FUNCTION shuyu_audit_retention_guard();

CREATE FUNCTION shuyu_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (YXO §19)';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION shuyu_audit_append_only();

CREATE FUNCTION shuyu_audit_retained() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.time > to_char((now() AT TIME ZONE 'UTC')
                          - make_interval(years => (SELECT years FROM audit_retention WHERE id = 1)::int),
                          'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') THEN
        RAISE EXCEPTION 'audit events younger than the retention period cannot be deleted (YXO §19)';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER audit_events_retained BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION shuyu_audit_retained();

-- One quality report per stored dataset version.
CREATE TABLE quality_reports (
    dataset_id  TEXT PRIMARY KEY REFERENCES datasets(id),
    entry_id    TEXT NOT NULL REFERENCES catalogue_entries(id),
    holder_org  TEXT NOT NULL REFERENCES organisations(id),
    version     BIGINT NOT NULL,
    score       BIGINT NOT NULL,
    dimensions  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX quality_reports_entry ON quality_reports(entry_id, version);
CREATE INDEX quality_reports_holder ON quality_reports(holder_org);

-- Findings of the checks, and issues and objections filed by users and the public, each routed
-- to the holding department with a deadline in working days.
CREATE TABLE quality_issues (
    id            TEXT PRIMARY KEY,
    entry_id      TEXT NOT NULL REFERENCES catalogue_entries(id),
    dataset_id    TEXT,
    holder_org    TEXT NOT NULL REFERENCES organisations(id),
    origin        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    dimension     TEXT,
    description   TEXT NOT NULL,
    reported_by   TEXT NOT NULL,
    reporter_org  TEXT,
    contact       TEXT,
    state         TEXT NOT NULL,
    due_on        TEXT NOT NULL,
    overdue       BIGINT NOT NULL DEFAULT 0,
    answer        TEXT,
    answered_at   TEXT,
    closed_at     TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX quality_issues_holder ON quality_issues(holder_org, state);
CREATE INDEX quality_issues_entry ON quality_issues(entry_id);
CREATE INDEX quality_issues_due ON quality_issues(state, due_on);
