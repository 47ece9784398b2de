-- Re-grading of derived (scratch) tables by a reviewer (GB/T 43697 annex I). A grading applies
-- to the version of the table it was made for; replacing the table drops back to its computed
-- level (就高从严).
CREATE TABLE table_gradings (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    table_name     TEXT NOT NULL,
    table_version  TEXT NOT NULL,
    from_level     INTEGER NOT NULL,
    to_level       INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    graded_by      TEXT NOT NULL REFERENCES users(id),
    graded_at      TEXT NOT NULL
);
CREATE INDEX table_gradings_workspace ON table_gradings(workspace_id, table_name);
