-- Archives of audit events past the retention period (YXO §19). An event leaves audit_events
-- only after its leaf hash is kept here, so the Merkle tree, its proofs and later tree heads
-- are unchanged by archiving; the event itself is in the archive file named in audit_archives.

CREATE TABLE audit_archives (
    first_seq       BIGINT PRIMARY KEY,
    end_seq         BIGINT NOT NULL UNIQUE CHECK (end_seq > first_seq),
    file            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           BIGINT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE audit_archived_leaves (
    seq        BIGINT PRIMARY KEY,
    leaf_hash  TEXT NOT NULL
);

CREATE FUNCTION shuyu_audit_archive_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit archive records and archived leaves are append-only (YXO §19)';
END $$;
CREATE TRIGGER audit_archives_kept BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_archives
    FOR EACH STATEMENT EXECUTE FUNCTION shuyu_audit_archive_kept();
CREATE TRIGGER audit_archived_leaves_kept BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_archived_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION shuyu_audit_archive_kept();

-- Past the retention period an event may be deleted only once it is archived.
CREATE FUNCTION shuyu_audit_archived_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_archived_leaves l WHERE l.seq = OLD.seq AND l.leaf_hash = OLD.leaf_hash) THEN
        RAISE EXCEPTION 'audit events leave the database only through an archive (YXO §19)';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER audit_events_archived_first BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION shuyu_audit_archived_first();
