-- Differential-privacy budgets (SPEC §4.5): one per grant, a total over the grant's life in
-- millionths of ε and trillionths of δ, spent atomically before an answer is released. Every
-- spend and every new allotment by the authority is a ledger row.
CREATE TABLE privacy_budgets (
    grant_id       TEXT PRIMARY KEY,
    epsilon_total  BIGINT NOT NULL,
    epsilon_spent  BIGINT NOT NULL,
    delta_total    BIGINT NOT NULL,
    delta_spent    BIGINT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE TABLE privacy_ledger (
    id          TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES privacy_budgets(grant_id),
    kind        TEXT NOT NULL,
    query_id    TEXT,
    epsilon     BIGINT NOT NULL,
    delta       BIGINT NOT NULL,
    reason      TEXT,
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX privacy_ledger_grant ON privacy_ledger(grant_id, created_at);
