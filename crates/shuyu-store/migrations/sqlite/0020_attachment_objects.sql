-- Attachments kept in object storage (issue 9): the row names the object and keeps the digest;
-- `content` stays empty for them. Rows written before keep their bytes inline.
ALTER TABLE attachments ADD COLUMN object_key TEXT;
