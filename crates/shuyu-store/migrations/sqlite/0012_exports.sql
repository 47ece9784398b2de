-- Exports (结果导出, SPEC §4.4): a result table checked automatically, reviewed, watermarked.
CREATE TABLE exports (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    operator_org   TEXT NOT NULL REFERENCES organisations(id),
    table_name     TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    state          TEXT NOT NULL,
    checks         TEXT NOT NULL,
    rows_exported  BIGINT NOT NULL,
    reason         TEXT,
    watermark_key  TEXT,
    sha256         TEXT,
    bytes          BIGINT,
    requested_by   TEXT NOT NULL REFERENCES users(id),
    reviewed_by    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX exports_workspace ON exports(workspace_id);
