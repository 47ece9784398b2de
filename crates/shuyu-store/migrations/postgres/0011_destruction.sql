-- Signed destruction certificates (WX §19): what was destroyed, by hash, and why.
CREATE TABLE destruction_certificates (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    certificate   TEXT NOT NULL,
    signature     TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX destruction_certificates_workspace ON destruction_certificates(workspace_id);
