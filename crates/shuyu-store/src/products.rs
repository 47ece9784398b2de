//! Product records (SPEC §5): products and their versions, consumers' applications and contracts,
//! API keys (hashes only), metered interface calls, allowed revenue, statements and the
//! double-entry revenue ledger.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shuyu_core::ids::OrgId;
use shuyu_core::pricing::{PriceCap, PricePlan};
use shuyu_core::products::{Definition, ProductKind, ProductStatus, Review, ScenarioCategory, VersionState};
use shuyu_core::revenue::Posting;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::{from_json, int, opt_date, opt_int, opt_text, text, to_json, Result, StoreError};

fn parse<T: std::str::FromStr>(s: &str, col: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{col}: {s:?}")))
}

// ---------------------------------------------------------------- products

#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub id: String,
    pub operator_org: OrgId,
    pub workspace_id: String,
    pub agreement_id: String,
    pub name: String,
    pub kind: ProductKind,
    pub status: ProductStatus,
    pub status_reason: Option<String>,
    pub published_version: Option<i64>,
    /// The trial-price year counts from here (SPEC §7.3).
    pub first_published_on: Option<NaiveDate>,
    pub price_cap: Option<PriceCap>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

fn product_from_row(r: &AnyRow) -> Result<ProductRecord> {
    Ok(ProductRecord {
        id: text(r, "id")?,
        operator_org: parse(&text(r, "operator_org")?, "products.operator_org")?,
        workspace_id: text(r, "workspace_id")?,
        agreement_id: text(r, "agreement_id")?,
        name: text(r, "name")?,
        kind: parse(&text(r, "kind")?, "products.kind")?,
        status: parse(&text(r, "status")?, "products.status")?,
        status_reason: opt_text(r, "status_reason")?,
        published_version: opt_int(r, "published_version")?,
        first_published_on: opt_date(r, "first_published_on")?,
        price_cap: opt_text(r, "price_cap")?.map(|s| from_json(&s, "products.price_cap")).transpose()?,
        created_by: text(r, "created_by")?,
        created_at: text(r, "created_at")?,
        updated_at: text(r, "updated_at")?,
    })
}

pub async fn insert_product(conn: &mut AnyConnection, p: &ProductRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO products (id, operator_org, workspace_id, agreement_id, name, kind, status, status_reason, \
         published_version, first_published_on, price_cap, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&p.id)
    .bind(p.operator_org.to_string())
    .bind(&p.workspace_id)
    .bind(&p.agreement_id)
    .bind(&p.name)
    .bind(p.kind.as_str())
    .bind(p.status.as_str())
    .bind(p.status_reason.clone())
    .bind(p.published_version)
    .bind(p.first_published_on.map(|d| d.to_string()))
    .bind(p.price_cap.as_ref().map(to_json).transpose()?)
    .bind(&p.created_by)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_product(conn: &mut AnyConnection, p: &ProductRecord) -> Result<()> {
    sqlx::query(
        "UPDATE products SET name = $1, status = $2, status_reason = $3, published_version = $4, \
         first_published_on = $5, price_cap = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&p.name)
    .bind(p.status.as_str())
    .bind(p.status_reason.clone())
    .bind(p.published_version)
    .bind(p.first_published_on.map(|d| d.to_string()))
    .bind(p.price_cap.as_ref().map(to_json).transpose()?)
    .bind(&p.updated_at)
    .bind(&p.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_product(conn: &mut AnyConnection, id: &str) -> Result<Option<ProductRecord>> {
    let row = sqlx::query("SELECT * FROM products WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(product_from_row).transpose()
}

/// Products, newest first: one operator's, or all; `published` keeps those on the market.
pub async fn list_products(
    conn: &mut AnyConnection,
    operator: Option<OrgId>,
    published: bool,
) -> Result<Vec<ProductRecord>> {
    let mut sql = String::from("SELECT * FROM products WHERE 1 = 1");
    if operator.is_some() {
        sql.push_str(" AND operator_org = $1");
    }
    if published {
        sql.push_str(" AND published_version IS NOT NULL AND status = 'active'");
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC");
    let mut q = sqlx::query(&sql);
    if let Some(o) = operator {
        q = q.bind(o.to_string());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter().map(product_from_row).collect()
}

// ---------------------------------------------------------------- versions

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub product_id: String,
    pub version: i64,
    pub state: VersionState,
    pub definition: Definition,
    /// What the engine learnt of an interface's query at submission (columns, level, touched).
    pub prepared: Option<Value>,
    /// The highest level of what the product reads.
    pub input_level: u8,
    pub reviews: Vec<Review>,
    pub certificate_code: Option<String>,
    pub submitted_on: Option<NaiveDate>,
    pub published_on: Option<NaiveDate>,
    pub created_at: String,
    pub updated_at: String,
}

fn version_from_row(r: &AnyRow) -> Result<VersionRecord> {
    Ok(VersionRecord {
        product_id: text(r, "product_id")?,
        version: int(r, "version")?,
        state: parse(&text(r, "state")?, "product_versions.state")?,
        definition: from_json(&text(r, "definition")?, "product_versions.definition")?,
        prepared: opt_text(r, "prepared")?.map(|s| from_json(&s, "product_versions.prepared")).transpose()?,
        input_level: u8::try_from(int(r, "input_level")?).unwrap_or(4),
        reviews: from_json(&text(r, "reviews")?, "product_versions.reviews")?,
        certificate_code: opt_text(r, "certificate_code")?,
        submitted_on: opt_date(r, "submitted_on")?,
        published_on: opt_date(r, "published_on")?,
        created_at: text(r, "created_at")?,
        updated_at: text(r, "updated_at")?,
    })
}

pub async fn insert_version(conn: &mut AnyConnection, v: &VersionRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO product_versions (product_id, version, state, definition, prepared, input_level, reviews, \
         certificate_code, submitted_on, published_on, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&v.product_id)
    .bind(v.version)
    .bind(v.state.as_str())
    .bind(to_json(&v.definition)?)
    .bind(v.prepared.as_ref().map(to_json).transpose()?)
    .bind(i64::from(v.input_level))
    .bind(to_json(&v.reviews)?)
    .bind(v.certificate_code.clone())
    .bind(v.submitted_on.map(|d| d.to_string()))
    .bind(v.published_on.map(|d| d.to_string()))
    .bind(&v.created_at)
    .bind(&v.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves a version's workflow fields; its definition never changes once stored.
pub async fn update_version(conn: &mut AnyConnection, v: &VersionRecord) -> Result<()> {
    sqlx::query(
        "UPDATE product_versions SET state = $1, prepared = $2, input_level = $3, reviews = $4, certificate_code = $5, \
         submitted_on = $6, published_on = $7, updated_at = $8 WHERE product_id = $9 AND version = $10",
    )
    .bind(v.state.as_str())
    .bind(v.prepared.as_ref().map(to_json).transpose()?)
    .bind(i64::from(v.input_level))
    .bind(to_json(&v.reviews)?)
    .bind(v.certificate_code.clone())
    .bind(v.submitted_on.map(|d| d.to_string()))
    .bind(v.published_on.map(|d| d.to_string()))
    .bind(&v.updated_at)
    .bind(&v.product_id)
    .bind(v.version)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_version(conn: &mut AnyConnection, product: &str, version: i64) -> Result<Option<VersionRecord>> {
    let row = sqlx::query("SELECT * FROM product_versions WHERE product_id = $1 AND version = $2")
        .bind(product)
        .bind(version)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(version_from_row).transpose()
}

/// A product's versions, oldest first.
pub async fn versions(conn: &mut AnyConnection, product: &str) -> Result<Vec<VersionRecord>> {
    let rows = sqlx::query("SELECT * FROM product_versions WHERE product_id = $1 ORDER BY version")
        .bind(product)
        .fetch_all(conn)
        .await?;
    rows.iter().map(version_from_row).collect()
}

/// A registration of this version was approved: its certificate code.
pub async fn set_certificate(
    conn: &mut AnyConnection,
    product: &str,
    version: i64,
    code: &str,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE product_versions SET certificate_code = $1, updated_at = $2 WHERE product_id = $3 AND version = $4",
    )
    .bind(code)
    .bind(now)
    .bind(product)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- consumers

/// One approver's decision on a consumer's application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub kind: shuyu_core::roles::OrgKind,
    pub user: String,
    pub approved: bool,
    pub reason: String,
    pub on: NaiveDate,
}

/// What a consumer asks for and the operator offers: the plan, the quotas and the term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    pub plan: PricePlan,
    pub quota_per_day: u32,
    pub quota_per_minute: u32,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct ApplicationRecord {
    pub id: String,
    pub product_id: String,
    pub version: i64,
    pub consumer_org: OrgId,
    pub applicant_user: String,
    pub scenario: String,
    pub purpose: String,
    pub terms: Terms,
    pub approvals: Vec<Approval>,
    /// `submitted`, `approved` (contract made), `refused`.
    pub state: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn application_from_row(r: &AnyRow) -> Result<ApplicationRecord> {
    Ok(ApplicationRecord {
        id: text(r, "id")?,
        product_id: text(r, "product_id")?,
        version: int(r, "version")?,
        consumer_org: parse(&text(r, "consumer_org")?, "consumer_applications.consumer_org")?,
        applicant_user: text(r, "applicant_user")?,
        scenario: text(r, "scenario")?,
        purpose: text(r, "purpose")?,
        terms: from_json(&text(r, "terms")?, "consumer_applications.terms")?,
        approvals: from_json(&text(r, "approvals")?, "consumer_applications.approvals")?,
        state: text(r, "state")?,
        reason: opt_text(r, "reason")?,
        created_at: text(r, "created_at")?,
        updated_at: text(r, "updated_at")?,
    })
}

pub async fn insert_application(conn: &mut AnyConnection, a: &ApplicationRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO consumer_applications (id, product_id, version, consumer_org, applicant_user, scenario, purpose, \
         terms, approvals, state, reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&a.id)
    .bind(&a.product_id)
    .bind(a.version)
    .bind(a.consumer_org.to_string())
    .bind(&a.applicant_user)
    .bind(&a.scenario)
    .bind(&a.purpose)
    .bind(to_json(&a.terms)?)
    .bind(to_json(&a.approvals)?)
    .bind(&a.state)
    .bind(a.reason.clone())
    .bind(&a.created_at)
    .bind(&a.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_application(conn: &mut AnyConnection, a: &ApplicationRecord) -> Result<()> {
    sqlx::query("UPDATE consumer_applications SET terms = $1, approvals = $2, state = $3, reason = $4, updated_at = $5 WHERE id = $6")
        .bind(to_json(&a.terms)?)
        .bind(to_json(&a.approvals)?)
        .bind(&a.state)
        .bind(a.reason.clone())
        .bind(&a.updated_at)
        .bind(&a.id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_application(conn: &mut AnyConnection, id: &str) -> Result<Option<ApplicationRecord>> {
    let row = sqlx::query("SELECT * FROM consumer_applications WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(application_from_row).transpose()
}

/// Applications a party sees: the consumer's own, those for the operator's products, or all.
pub async fn list_applications(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Vec<ApplicationRecord>> {
    let rows = match org {
        Some(o) => {
            sqlx::query(
                "SELECT a.* FROM consumer_applications a JOIN products p ON p.id = a.product_id \
                 WHERE a.consumer_org = $1 OR p.operator_org = $1 ORDER BY a.created_at DESC",
            )
            .bind(o.to_string())
            .fetch_all(conn)
            .await?
        }
        None => sqlx::query("SELECT * FROM consumer_applications ORDER BY created_at DESC").fetch_all(conn).await?,
    };
    rows.iter().map(application_from_row).collect()
}

#[derive(Debug, Clone)]
pub struct ContractRecord {
    pub id: String,
    pub application_id: String,
    pub product_id: String,
    pub consumer_org: OrgId,
    pub operator_org: OrgId,
    pub scenario: String,
    pub category: ScenarioCategory,
    pub terms: Terms,
    /// `active`, `suspended`, `terminated`.
    pub state: String,
    pub created_at: String,
}

fn contract_from_row(r: &AnyRow) -> Result<ContractRecord> {
    let u32_of =
        |col: &str| -> Result<u32> { u32::try_from(int(r, col)?).map_err(|_| StoreError::Corrupt(col.into())) };
    Ok(ContractRecord {
        id: text(r, "id")?,
        application_id: text(r, "application_id")?,
        product_id: text(r, "product_id")?,
        consumer_org: parse(&text(r, "consumer_org")?, "contracts.consumer_org")?,
        operator_org: parse(&text(r, "operator_org")?, "contracts.operator_org")?,
        scenario: text(r, "scenario")?,
        category: parse(&text(r, "category")?, "contracts.category")?,
        terms: Terms {
            plan: from_json(&text(r, "plan")?, "contracts.plan")?,
            quota_per_day: u32_of("quota_per_day")?,
            quota_per_minute: u32_of("quota_per_minute")?,
            valid_from: parse(&text(r, "valid_from")?, "contracts.valid_from")?,
            valid_until: parse(&text(r, "valid_until")?, "contracts.valid_until")?,
        },
        state: text(r, "state")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_contract(conn: &mut AnyConnection, c: &ContractRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO contracts (id, application_id, product_id, consumer_org, operator_org, scenario, category, plan, \
         quota_per_day, quota_per_minute, valid_from, valid_until, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(&c.id)
    .bind(&c.application_id)
    .bind(&c.product_id)
    .bind(c.consumer_org.to_string())
    .bind(c.operator_org.to_string())
    .bind(&c.scenario)
    .bind(c.category.as_str())
    .bind(to_json(&c.terms.plan)?)
    .bind(i64::from(c.terms.quota_per_day))
    .bind(i64::from(c.terms.quota_per_minute))
    .bind(c.terms.valid_from.to_string())
    .bind(c.terms.valid_until.to_string())
    .bind(&c.state)
    .bind(&c.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_contract_state(conn: &mut AnyConnection, id: &str, state: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE contracts SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_contract(conn: &mut AnyConnection, id: &str) -> Result<Option<ContractRecord>> {
    let row = sqlx::query("SELECT * FROM contracts WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(contract_from_row).transpose()
}

/// Contracts a party holds: as consumer or as operator; all for the authority.
pub async fn list_contracts(conn: &mut AnyConnection, org: Option<OrgId>) -> Result<Vec<ContractRecord>> {
    let rows = match org {
        Some(o) => {
            sqlx::query("SELECT * FROM contracts WHERE consumer_org = $1 OR operator_org = $1 ORDER BY created_at DESC")
                .bind(o.to_string())
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query("SELECT * FROM contracts ORDER BY created_at DESC").fetch_all(conn).await?,
    };
    rows.iter().map(contract_from_row).collect()
}

// ---------------------------------------------------------------- keys

#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub contract_id: String,
    pub consumer_org: String,
    /// The first characters, to tell keys apart; the key itself is never stored.
    pub prefix: String,
    #[serde(skip)]
    pub hash: String,
    /// `active` or `revoked`.
    pub state: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

fn key_from_row(r: &AnyRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        id: text(r, "id")?,
        contract_id: text(r, "contract_id")?,
        consumer_org: text(r, "consumer_org")?,
        prefix: text(r, "prefix")?,
        hash: text(r, "hash")?,
        state: text(r, "state")?,
        created_by: text(r, "created_by")?,
        created_at: text(r, "created_at")?,
        revoked_at: opt_text(r, "revoked_at")?,
        revoked_by: opt_text(r, "revoked_by")?,
    })
}

pub async fn insert_key(conn: &mut AnyConnection, k: &KeyRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, contract_id, consumer_org, prefix, hash, state, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&k.id)
    .bind(&k.contract_id)
    .bind(&k.consumer_org)
    .bind(&k.prefix)
    .bind(&k.hash)
    .bind(&k.state)
    .bind(&k.created_by)
    .bind(&k.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn revoke_key(conn: &mut AnyConnection, id: &str, by: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE api_keys SET state = 'revoked', revoked_at = $1, revoked_by = $2 WHERE id = $3")
        .bind(now)
        .bind(by)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_key(conn: &mut AnyConnection, id: &str) -> Result<Option<KeyRecord>> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn key_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<KeyRecord>> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE hash = $1").bind(hash).fetch_optional(conn).await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn keys_of_contract(conn: &mut AnyConnection, contract: &str) -> Result<Vec<KeyRecord>> {
    let rows = sqlx::query("SELECT * FROM api_keys WHERE contract_id = $1 ORDER BY created_at")
        .bind(contract)
        .fetch_all(conn)
        .await?;
    rows.iter().map(key_from_row).collect()
}

// ---------------------------------------------------------------- calls

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub id: String,
    pub key_id: Option<String>,
    pub contract_id: Option<String>,
    pub product_id: String,
    pub version: i64,
    pub consumer_org: Option<String>,
    pub operator_org: String,
    /// The raw parameter values as sent (after validation), for the differencing defence.
    pub params: Value,
    pub outcome: String,
    pub status: u16,
    pub rows: i64,
    pub elapsed_us: i64,
    pub day: NaiveDate,
    pub created_at: String,
}

/// A metered call's columns, in the order every insert binds them.
pub(crate) const CALL_COLUMNS: &str = "id, key_id, contract_id, product_id, version, consumer_org, operator_org, \
     params, outcome, status, rows_returned, elapsed_us, day, created_at";
/// One row of [`CALL_COLUMNS`] placeholders.
pub(crate) const CALL_MARKS: &str = "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// Inserts many calls with multi-row statements (the group writer's commit on PostgreSQL).
pub async fn insert_calls(conn: &mut AnyConnection, calls: &[&CallRecord]) -> Result<()> {
    const COLUMNS: usize = 14;
    const ROWS: usize = 256;
    for chunk in calls.chunks(ROWS) {
        let sql =
            format!("INSERT INTO interface_calls ({CALL_COLUMNS}) VALUES {}", crate::value_rows(chunk.len(), COLUMNS));
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q
                .bind(c.id.clone())
                .bind(c.key_id.clone())
                .bind(c.contract_id.clone())
                .bind(c.product_id.clone())
                .bind(c.version)
                .bind(c.consumer_org.clone())
                .bind(c.operator_org.clone())
                .bind(to_json(&c.params)?)
                .bind(c.outcome.clone())
                .bind(i64::from(c.status))
                .bind(c.rows)
                .bind(c.elapsed_us)
                .bind(c.day.to_string())
                .bind(c.created_at.clone());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Answered calls of a contract on one day (the daily quota counts these).
pub async fn answered_calls(conn: &mut AnyConnection, contract: &str, day: NaiveDate) -> Result<u64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM interface_calls WHERE contract_id = $1 AND day = $2 AND outcome = 'answered'",
    )
    .bind(contract)
    .bind(day.to_string())
    .fetch_one(conn)
    .await?;
    Ok(int(&row, "n")?.max(0) as u64)
}

/// Answered calls of a contract in a month (`YYYY-MM`), the units a per-call plan charges.
pub async fn calls_in_month(conn: &mut AnyConnection, contract: &str, month: &str) -> Result<u64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM interface_calls WHERE contract_id = $1 AND outcome = 'answered' AND day LIKE $2",
    )
    .bind(contract)
    .bind(format!("{month}-%"))
    .fetch_one(conn)
    .await?;
    Ok(int(&row, "n")?.max(0) as u64)
}

/// The newest answered calls of a product version with their parameters, newest first.
pub async fn recent_calls(
    conn: &mut AnyConnection,
    product: &str,
    version: i64,
    limit: i64,
) -> Result<Vec<(String, Value)>> {
    let rows = sqlx::query(
        "SELECT id, params FROM interface_calls WHERE product_id = $1 AND version = $2 AND outcome = 'answered' \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(product)
    .bind(version)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "id")?, from_json(&text(r, "params")?, "interface_calls.params")?))).collect()
}

/// Calls per outcome for a contract, for the consumer's usage page.
pub async fn usage(conn: &mut AnyConnection, contract: &str) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT day, outcome, COUNT(*) AS n FROM interface_calls WHERE contract_id = $1 \
         GROUP BY day, outcome ORDER BY day DESC, outcome LIMIT 400",
    )
    .bind(contract)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "day")?, text(r, "outcome")?, int(r, "n")?))).collect()
}

// ---------------------------------------------------------------- revenue

pub async fn set_allowed_revenue(
    conn: &mut AnyConnection,
    operator: OrgId,
    year: i32,
    allowed_fen: i64,
    reason: &str,
    by: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM allowed_revenue WHERE operator_org = $1 AND year = $2")
        .bind(operator.to_string())
        .bind(i64::from(year))
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO allowed_revenue (operator_org, year, allowed_fen, reason, set_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(operator.to_string())
    .bind(i64::from(year))
    .bind(allowed_fen)
    .bind(reason)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn allowed_revenue(conn: &mut AnyConnection, operator: OrgId, year: i32) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT allowed_fen FROM allowed_revenue WHERE operator_org = $1 AND year = $2")
        .bind(operator.to_string())
        .bind(i64::from(year))
        .fetch_optional(conn)
        .await?;
    row.map(|r| int(&r, "allowed_fen")).transpose()
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementRecord {
    pub id: String,
    pub contract_id: String,
    /// `YYYY-MM`.
    pub period: String,
    pub units: i64,
    pub charge_fen: i64,
    /// Revenue above the operator's allowed maximum, given back in this statement.
    pub deduction_fen: i64,
    pub amount_fen: i64,
    /// `issued` or `paid`.
    pub state: String,
    pub paid_at: Option<String>,
    pub created_at: String,
}

fn statement_from_row(r: &AnyRow) -> Result<StatementRecord> {
    Ok(StatementRecord {
        id: text(r, "id")?,
        contract_id: text(r, "contract_id")?,
        period: text(r, "period")?,
        units: int(r, "units")?,
        charge_fen: int(r, "charge_fen")?,
        deduction_fen: int(r, "deduction_fen")?,
        amount_fen: int(r, "amount_fen")?,
        state: text(r, "state")?,
        paid_at: opt_text(r, "paid_at")?,
        created_at: text(r, "created_at")?,
    })
}

pub async fn insert_statement(conn: &mut AnyConnection, s: &StatementRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO statements (id, contract_id, period, units, charge_fen, deduction_fen, amount_fen, state, paid_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.id)
    .bind(&s.contract_id)
    .bind(&s.period)
    .bind(s.units)
    .bind(s.charge_fen)
    .bind(s.deduction_fen)
    .bind(s.amount_fen)
    .bind(&s.state)
    .bind(s.paid_at.clone())
    .bind(&s.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn statement(conn: &mut AnyConnection, contract: &str, period: &str) -> Result<Option<StatementRecord>> {
    let row = sqlx::query("SELECT * FROM statements WHERE contract_id = $1 AND period = $2")
        .bind(contract)
        .bind(period)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(statement_from_row).transpose()
}

pub async fn get_statement(conn: &mut AnyConnection, id: &str) -> Result<Option<StatementRecord>> {
    let row = sqlx::query("SELECT * FROM statements WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.as_ref().map(statement_from_row).transpose()
}

pub async fn statements_of(conn: &mut AnyConnection, contract: &str) -> Result<Vec<StatementRecord>> {
    let rows = sqlx::query("SELECT * FROM statements WHERE contract_id = $1 ORDER BY period DESC")
        .bind(contract)
        .fetch_all(conn)
        .await?;
    rows.iter().map(statement_from_row).collect()
}

/// Only a guarded transition: returns false when the statement was already paid.
pub async fn mark_paid(conn: &mut AnyConnection, id: &str, now: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE statements SET state = 'paid', paid_at = $1 WHERE id = $2 AND state = 'issued'")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Books one balanced transaction. Refuses postings that do not sum to zero.
pub async fn post(
    conn: &mut AnyConnection,
    txn_id: &str,
    postings: &[Posting],
    statement: Option<&str>,
    period: &str,
    now: &str,
) -> Result<()> {
    if !shuyu_core::revenue::balances(postings) {
        return Err(StoreError::Corrupt(format!("ledger transaction {txn_id} does not balance")));
    }
    for (i, p) in postings.iter().enumerate() {
        sqlx::query(
            "INSERT INTO ledger_postings (id, txn_id, account, amount_fen, statement_id, period, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(format!("{txn_id}-{i}"))
        .bind(txn_id)
        .bind(&p.account)
        .bind(p.amount_fen)
        .bind(statement)
        .bind(period)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Balances per account for a period (`YYYY-MM`) or, with `None`, for all time; accounts under a
/// prefix when given.
pub async fn balances(
    conn: &mut AnyConnection,
    period: Option<&str>,
    prefix: Option<&str>,
) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT account, CAST(SUM(amount_fen) AS BIGINT) AS total FROM ledger_postings \
         WHERE ($1 = '' OR period = $1) AND ($2 = '' OR account LIKE $2) GROUP BY account ORDER BY account",
    )
    .bind(period.unwrap_or(""))
    .bind(prefix.map(|p| format!("{p}%")).unwrap_or_default())
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "account")?, int(r, "total")?))).collect()
}

/// An operator's revenue booked in a year: what the allowed maximum is compared with.
pub async fn operator_revenue(conn: &mut AnyConnection, operator: OrgId, year: i32) -> Result<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS total FROM ledger_postings WHERE account = $1 AND period LIKE $2",
    )
    .bind(shuyu_core::revenue::operator_account(&operator.to_string()))
    .bind(format!("{year}-%"))
    .fetch_one(conn)
    .await?;
    Ok(-int(&row, "total")?)
}

/// What an operator's statements in a year have given back already (revenue above the allowed maximum).
pub async fn deductions_in_year(conn: &mut AnyConnection, operator: OrgId, year: i32) -> Result<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(s.deduction_fen), 0) AS BIGINT) AS total FROM statements s \
         JOIN contracts c ON c.id = s.contract_id WHERE c.operator_org = $1 AND s.period LIKE $2",
    )
    .bind(operator.to_string())
    .bind(format!("{year}-%"))
    .fetch_one(conn)
    .await?;
    int(&row, "total")
}
