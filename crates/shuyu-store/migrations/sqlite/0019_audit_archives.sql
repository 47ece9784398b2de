-- Archives of audit events past the retention period (YXO §19). An event leaves audit_events
-- only after its leaf hash is kept here, so the Merkle tree, its proofs and later tree heads
-- are unchanged by archiving; the event itself is in the archive file named in audit_archives.

CREATE TABLE audit_archives (
    first_seq       INTEGER PRIMARY KEY,
    end_seq         INTEGER NOT NULL UNIQUE CHECK (end_seq > first_seq),
    file            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE audit_archived_leaves (
    seq        INTEGER PRIMARY KEY,
    leaf_hash  TEXT NOT NULL
);

CREATE TRIGGER audit_archives_append_only BEFORE UPDATE ON audit_archives
BEGIN
    SELECT RAISE(ABORT, 'audit archive records are append-only (YXO §19)');
END;

CREATE TRIGGER audit_archives_kept BEFORE DELETE ON audit_archives
BEGIN
    SELECT RAISE(ABORT, 'audit archive records cannot be deleted (YXO §19)');
END;

CREATE TRIGGER audit_archived_leaves_append_only BEFORE UPDATE ON audit_archived_leaves
BEGIN
    SELECT RAISE(ABORT, 'archived audit leaves are append-only (YXO §19)');
END;

CREATE TRIGGER audit_archived_leaves_kept BEFORE DELETE ON audit_archived_leaves
BEGIN
    SELECT RAISE(ABORT, 'archived audit leaves cannot be deleted (YXO §19)');
END;

-- Past the retention period an event may be deleted only once it is archived.
CREATE TRIGGER audit_events_archived_first BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_archived_leaves l WHERE l.seq = old.seq AND l.leaf_hash = old.leaf_hash)
BEGIN
    SELECT RAISE(ABORT, 'audit events leave the database only through an archive (YXO §19)');
END;
