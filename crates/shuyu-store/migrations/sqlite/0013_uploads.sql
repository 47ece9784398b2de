-- Operators' own lawful data (social data) imported into a workspace after review (WX §16.3).
CREATE TABLE workspace_uploads (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    operator_org  TEXT NOT NULL REFERENCES organisations(id),
    table_name    TEXT NOT NULL,
    source        TEXT NOT NULL,
    evidence      TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT,
    uploaded_by   TEXT NOT NULL REFERENCES users(id),
    reviewed_by   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX workspace_uploads_workspace ON workspace_uploads(workspace_id);
