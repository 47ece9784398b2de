-- Products, interfaces and revenue (SPEC §5): products and their reviewed versions, consumers'
-- applications and contracts, API keys (hashes only), the metered calls, price caps, the
-- operators' allowed revenue, and the double-entry revenue ledger in fen.
CREATE TABLE products (
    id                  TEXT PRIMARY KEY,
    operator_org        TEXT NOT NULL REFERENCES organisations(id),
    workspace_id        TEXT NOT NULL REFERENCES workspaces(id),
    agreement_id        TEXT NOT NULL REFERENCES agreements(id),
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,
    published_version   INTEGER,
    first_published_on  TEXT,
    price_cap           TEXT,
    created_by          TEXT NOT NULL REFERENCES users(id),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX products_operator ON products(operator_org);

CREATE TABLE product_versions (
    product_id        TEXT NOT NULL REFERENCES products(id),
    version           INTEGER NOT NULL,
    state             TEXT NOT NULL,
    definition        TEXT NOT NULL,
    prepared          TEXT,
    input_level       INTEGER NOT NULL,
    reviews           TEXT NOT NULL,
    certificate_code  TEXT,
    submitted_on      TEXT,
    published_on      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (product_id, version)
);

CREATE TABLE consumer_applications (
    id                TEXT PRIMARY KEY,
    product_id        TEXT NOT NULL REFERENCES products(id),
    version           INTEGER NOT NULL,
    consumer_org      TEXT NOT NULL REFERENCES organisations(id),
    applicant_user    TEXT NOT NULL REFERENCES users(id),
    scenario          TEXT NOT NULL,
    purpose           TEXT NOT NULL,
    terms             TEXT NOT NULL,
    approvals         TEXT NOT NULL,
    state             TEXT NOT NULL,
    reason            TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX consumer_applications_product ON consumer_applications(product_id);
CREATE INDEX consumer_applications_consumer ON consumer_applications(consumer_org);

CREATE TABLE contracts (
    id                TEXT PRIMARY KEY,
    application_id    TEXT NOT NULL REFERENCES consumer_applications(id),
    product_id        TEXT NOT NULL REFERENCES products(id),
    consumer_org      TEXT NOT NULL REFERENCES organisations(id),
    operator_org      TEXT NOT NULL REFERENCES organisations(id),
    scenario          TEXT NOT NULL,
    category          TEXT NOT NULL,
    plan              TEXT NOT NULL,
    quota_per_day     INTEGER NOT NULL,
    quota_per_minute  INTEGER NOT NULL,
    valid_from        TEXT NOT NULL,
    valid_until       TEXT NOT NULL,
    state             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX contracts_product ON contracts(product_id);
CREATE INDEX contracts_consumer ON contracts(consumer_org);

-- Keys are shown once; only their SHA-256 is kept.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    contract_id  TEXT NOT NULL REFERENCES contracts(id),
    consumer_org TEXT NOT NULL REFERENCES organisations(id),
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    revoked_by   TEXT
);
CREATE INDEX api_keys_contract ON api_keys(contract_id);

-- Every call, answered or refused, for metering, statements and supervision.
CREATE TABLE interface_calls (
    id            TEXT PRIMARY KEY,
    key_id        TEXT,
    contract_id   TEXT,
    product_id    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    consumer_org  TEXT,
    operator_org  TEXT NOT NULL,
    params        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    rows_returned INTEGER NOT NULL,
    elapsed_us    INTEGER NOT NULL,
    day           TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX interface_calls_contract_day ON interface_calls(contract_id, day);
CREATE INDEX interface_calls_product ON interface_calls(product_id, version, created_at);

-- The authority's maximum allowed revenue per operator and year (最高准许收入).
CREATE TABLE allowed_revenue (
    operator_org  TEXT NOT NULL REFERENCES organisations(id),
    year          INTEGER NOT NULL,
    allowed_fen   INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    set_by        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (operator_org, year)
);

-- Monthly statements per contract; a paid statement is booked in the ledger.
CREATE TABLE statements (
    id            TEXT PRIMARY KEY,
    contract_id   TEXT NOT NULL REFERENCES contracts(id),
    period        TEXT NOT NULL,
    units         INTEGER NOT NULL,
    charge_fen    INTEGER NOT NULL,
    deduction_fen INTEGER NOT NULL,
    amount_fen    INTEGER NOT NULL,
    state         TEXT NOT NULL,
    paid_at       TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (contract_id, period)
);

-- Double-entry: each transaction's postings sum to zero (debit positive, credit negative).
CREATE TABLE ledger_postings (
    id            TEXT PRIMARY KEY,
    txn_id        TEXT NOT NULL,
    account       TEXT NOT NULL,
    amount_fen    INTEGER NOT NULL,
    statement_id  TEXT,
    period        TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings(account, period);
CREATE INDEX ledger_postings_txn ON ledger_postings(txn_id);

ALTER TABLE registrations ADD COLUMN product_id TEXT;
ALTER TABLE registrations ADD COLUMN product_version INTEGER;
