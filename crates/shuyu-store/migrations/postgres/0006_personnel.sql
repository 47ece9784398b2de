-- Personnel who touch data (WX §16, YXO §22, §32): filing, review, training, confidentiality.
CREATE TABLE personnel (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    org_id      TEXT NOT NULL REFERENCES organisations(id),
    record      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX personnel_org ON personnel(org_id);
