//! Differential-privacy budgets and their ledger (SPEC §4.5). A budget is a total over a grant's
//! life: it is never refreshed, only raised by the authority with a recorded reason. A spend is
//! one conditional `UPDATE` that succeeds only while the total covers it, so concurrent queries
//! can never overspend: on SQLite writers are serial, and on PostgreSQL a second writer re-checks
//! the condition on the row the first one committed. The caller spends inside the transaction
//! that records the query's audit event, before the answer is released.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shuyu_core::clock::format_instant;
use sqlx::AnyConnection;

use crate::{int, opt_text, text, Result};

/// Amounts are integers: ε in millionths, δ in trillionths, so sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub epsilon_total: i64,
    pub epsilon_spent: i64,
    pub delta_total: i64,
    pub delta_spent: i64,
}

impl Budget {
    pub fn epsilon_left(&self) -> i64 {
        self.epsilon_total - self.epsilon_spent
    }

    pub fn delta_left(&self) -> i64 {
        self.delta_total - self.delta_spent
    }
}

/// What a spend did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Recorded; the budget after it.
    Spent(Budget),
    /// Refused; nothing changed; the budget as it stands.
    Exhausted(Budget),
}

/// One ledger row.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub id: String,
    /// `allot` (the authority's budget) or `spend` (a query's cost).
    pub kind: String,
    pub query_id: Option<String>,
    pub epsilon: i64,
    pub delta: i64,
    pub reason: Option<String>,
    pub actor: String,
    pub created_at: String,
}

/// Amounts are unsigned by type, so a "spend" can never give budget back.
fn amount(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| crate::StoreError::Corrupt(format!("privacy amount {v} out of range")))
}

pub async fn budget(conn: &mut AnyConnection, grant: &str) -> Result<Option<Budget>> {
    let row = sqlx::query("SELECT * FROM privacy_budgets WHERE grant_id = $1").bind(grant).fetch_optional(conn).await?;
    row.map(|r| {
        Ok(Budget {
            epsilon_total: int(&r, "epsilon_total")?,
            epsilon_spent: int(&r, "epsilon_spent")?,
            delta_total: int(&r, "delta_total")?,
            delta_spent: int(&r, "delta_spent")?,
        })
    })
    .transpose()
}

#[allow(clippy::too_many_arguments)]
async fn ledger(
    conn: &mut AnyConnection,
    grant: &str,
    kind: &str,
    query: Option<&str>,
    epsilon: i64,
    delta: i64,
    reason: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO privacy_ledger (id, grant_id, kind, query_id, epsilon, delta, reason, actor, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(grant)
    .bind(kind)
    .bind(query)
    .bind(epsilon)
    .bind(delta)
    .bind(reason)
    .bind(actor)
    .bind(format_instant(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a grant its budget, or raises it (the authority grants more, with a reason). What was
/// spent stays spent.
pub async fn allot(
    conn: &mut AnyConnection,
    grant: &str,
    epsilon: u64,
    delta: u64,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Budget> {
    let (epsilon, delta) = (amount(epsilon)?, amount(delta)?);
    let updated = sqlx::query(
        "UPDATE privacy_budgets SET epsilon_total = epsilon_total + $1, delta_total = delta_total + $2, \
         updated_at = $3 WHERE grant_id = $4",
    )
    .bind(epsilon)
    .bind(delta)
    .bind(format_instant(now))
    .bind(grant)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO privacy_budgets (grant_id, epsilon_total, epsilon_spent, delta_total, delta_spent, updated_at) \
             VALUES ($1, $2, 0, $3, 0, $4)",
        )
        .bind(grant)
        .bind(epsilon)
        .bind(delta)
        .bind(format_instant(now))
        .execute(&mut *conn)
        .await?;
    }
    ledger(conn, grant, "allot", None, epsilon, delta, Some(reason), actor, now).await?;
    budget(conn, grant).await?.ok_or_else(|| crate::StoreError::Corrupt("privacy budget vanished".into()))
}

/// Spends a query's cost if the budget covers it; records it in the ledger.
pub async fn spend(
    conn: &mut AnyConnection,
    grant: &str,
    query: &str,
    epsilon: u64,
    delta: u64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Spend> {
    let (epsilon, delta) = (amount(epsilon)?, amount(delta)?);
    let updated = sqlx::query(
        "UPDATE privacy_budgets SET epsilon_spent = epsilon_spent + $1, delta_spent = delta_spent + $2, \
         updated_at = $3 WHERE grant_id = $4 AND epsilon_spent + $1 <= epsilon_total AND delta_spent + $2 <= delta_total",
    )
    .bind(epsilon)
    .bind(delta)
    .bind(format_instant(now))
    .bind(grant)
    .execute(&mut *conn)
    .await?;
    let after = budget(conn, grant).await?.unwrap_or(Budget {
        epsilon_total: 0,
        epsilon_spent: 0,
        delta_total: 0,
        delta_spent: 0,
    });
    if updated.rows_affected() == 0 {
        return Ok(Spend::Exhausted(after));
    }
    ledger(conn, grant, "spend", Some(query), epsilon, delta, None, actor, now).await?;
    Ok(Spend::Spent(after))
}

/// A grant's ledger, oldest first.
pub async fn entries(conn: &mut AnyConnection, grant: &str) -> Result<Vec<LedgerEntry>> {
    let rows = sqlx::query("SELECT * FROM privacy_ledger WHERE grant_id = $1 ORDER BY created_at, id")
        .bind(grant)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(LedgerEntry {
                id: text(r, "id")?,
                kind: text(r, "kind")?,
                query_id: opt_text(r, "query_id")?,
                epsilon: int(r, "epsilon")?,
                delta: int(r, "delta")?,
                reason: opt_text(r, "reason")?,
                actor: text(r, "actor")?,
                created_at: text(r, "created_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditContext, Store};
    use shuyu_audit::Outcome;

    async fn concurrent_queries_never_overspend(store: Store) {
        let ctx = AuditContext::system("t");
        let now = Utc::now();
        let mut tx = store.begin_write(now).await.unwrap();
        allot(tx.conn(), "g1", 1_000_000, 0, "授权时核定的隐私预算", "authority", now).await.unwrap();
        tx.audit(&ctx, "privacy.allotted", "grant:g1", Outcome::Success, serde_json::json!({})).await.unwrap();
        tx.commit().await.unwrap();
        // 25 queries at once, each costing ε = 0.1, against a total of ε = 1.0.
        let tasks: Vec<_> = (0..25)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let ctx = AuditContext::system("t");
                    let mut tx = store.begin_write(Utc::now()).await.unwrap();
                    let r = spend(tx.conn(), "g1", &format!("q{i}"), 100_000, 0, "analyst", Utc::now()).await.unwrap();
                    tx.audit(&ctx, "privacy.spent", "grant:g1", Outcome::Success, serde_json::json!({})).await.unwrap();
                    tx.commit().await.unwrap();
                    r
                })
            })
            .collect();
        let (mut spent, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Spend::Spent(_) => spent += 1,
                Spend::Exhausted(b) => {
                    refused += 1;
                    assert_eq!(b.epsilon_left(), 0, "a refusal shows what is left");
                }
            }
        }
        assert_eq!((spent, refused), (10, 15));
        let mut conn = store.acquire().await.unwrap();
        let b = budget(&mut conn, "g1").await.unwrap().unwrap();
        assert_eq!((b.epsilon_total, b.epsilon_spent), (1_000_000, 1_000_000));
        let kinds: Vec<String> = entries(&mut conn, "g1").await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "spend").count(), 10);
        drop(conn);
        // Only a new allotment, with its reason, lets queries go on; what was spent stays spent.
        let mut tx = store.begin_write(Utc::now()).await.unwrap();
        let b = allot(tx.conn(), "g1", 500_000, 0, "数据主管部门追加预算", "authority", Utc::now()).await.unwrap();
        tx.audit(&ctx, "privacy.allotted", "grant:g1", Outcome::Success, serde_json::json!({})).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!((b.epsilon_total, b.epsilon_spent, b.epsilon_left()), (1_500_000, 1_000_000, 500_000));
        let mut conn = store.acquire().await.unwrap();
        assert!(matches!(spend(&mut conn, "nothing", "q", 1, 0, "a", Utc::now()).await.unwrap(), Spend::Exhausted(_)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_budgets() {
        let dir = tempfile::tempdir().unwrap();
        concurrent_queries_never_overspend(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_budgets() {
        let Some(store) = crate::testing::postgres_store("privacy").await else { return };
        concurrent_queries_never_overspend(store).await;
    }
}
