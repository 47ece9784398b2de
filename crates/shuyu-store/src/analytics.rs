//! Operation analytics (WX §24, SPEC §6.1): aggregates over the platform's own records for a
//! period, given as UTC instants `[from, to)`. Sums are cast to BIGINT so both backends return
//! integers.

use sqlx::AnyConnection;

use crate::{int, text, Result};

/// One aggregate row: the grouping texts and the measured numbers, in query order.
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    pub keys: Vec<String>,
    pub values: Vec<i64>,
}

async fn aggregate(
    conn: &mut AnyConnection,
    sql: &str,
    from: &str,
    to: &str,
    keys: &[&str],
    values: &[&str],
) -> Result<Vec<Agg>> {
    let rows = sqlx::query(sql).bind(from).bind(to).fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Agg {
                keys: keys.iter().map(|k| text(r, k)).collect::<Result<_>>()?,
                values: values.iter().map(|v| int(r, v)).collect::<Result<_>>()?,
            })
        })
        .collect()
}

/// Workspace queries per operator: count, bytes scanned, CPU milliseconds, rows returned.
pub async fn queries_by_operator(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT operator_org, COUNT(*) AS n, CAST(SUM(bytes_scanned) AS BIGINT) AS bytes, \
         CAST(SUM(cpu_ms) AS BIGINT) AS cpu, CAST(SUM(rows_returned) AS BIGINT) AS rows_out \
         FROM workspace_queries WHERE created_at >= $1 AND created_at < $2 GROUP BY operator_org ORDER BY operator_org",
        from,
        to,
        &["operator_org"],
        &["n", "bytes", "cpu", "rows_out"],
    )
    .await
}

/// Workspace queries per UTC hour (`YYYY-MM-DDTHH`), for the daily series in China time.
pub async fn queries_by_hour(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT substr(created_at, 1, 13) AS hour, COUNT(*) AS n FROM workspace_queries \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY substr(created_at, 1, 13) ORDER BY hour",
        from,
        to,
        &["hour"],
        &["n"],
    )
    .await
}

/// Export requests per operator and state, with the rows they carry.
pub async fn exports_by_operator(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT operator_org, state, COUNT(*) AS n, CAST(SUM(rows_exported) AS BIGINT) AS rows_out FROM exports \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY operator_org, state ORDER BY operator_org, state",
        from,
        to,
        &["operator_org", "state"],
        &["n", "rows_out"],
    )
    .await
}

/// Interface calls per product and outcome, with the rows answered.
pub async fn calls_by_product(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT product_id, operator_org, outcome, COUNT(*) AS n, CAST(SUM(rows_returned) AS BIGINT) AS rows_out \
         FROM interface_calls WHERE created_at >= $1 AND created_at < $2 \
         GROUP BY product_id, operator_org, outcome ORDER BY product_id, outcome",
        from,
        to,
        &["product_id", "operator_org", "outcome"],
        &["n", "rows_out"],
    )
    .await
}

/// Interface calls per day (China time, as metered).
pub async fn calls_by_day(conn: &mut AnyConnection, from_day: &str, to_day: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT day, COUNT(*) AS n FROM interface_calls WHERE day >= $1 AND day < $2 GROUP BY day ORDER BY day",
        from_day,
        to_day,
        &["day"],
        &["n"],
    )
    .await
}

/// The ledger's movements per account in the period (debits positive).
pub async fn postings_by_account(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<Agg>> {
    aggregate(
        conn,
        "SELECT account, CAST(SUM(amount_fen) AS BIGINT) AS fen FROM ledger_postings \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY account ORDER BY account",
        from,
        to,
        &["account"],
        &["fen"],
    )
    .await
}

/// Data requests made in the period: operator, state and the request (its tables name entries).
pub async fn grants_requested(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT operator_org, state, request FROM grants WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((text(r, "operator_org")?, text(r, "state")?, text(r, "request")?))).collect()
}

/// How often each of `actions` was recorded (successfully) in `[from, to)`.
pub async fn action_counts(
    conn: &mut AnyConnection,
    actions: &[&str],
    from: &str,
    to: &str,
) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for a in actions {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = $1 AND outcome = 'success' AND time >= $2 AND time < $3",
        )
        .bind(*a)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *conn)
        .await?;
        out.push((a.to_string(), int(&row, "n")?));
    }
    Ok(out)
}

/// Datasets stored in `[from, to)`: versions and rows, per holder.
pub async fn datasets_by_holder(conn: &mut AnyConnection, from: &str, to: &str) -> Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT holder_org, evidence FROM datasets WHERE created_at >= $1 AND created_at < $2 ORDER BY holder_org",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    let mut by: std::collections::BTreeMap<String, (i64, i64)> = std::collections::BTreeMap::new();
    for r in &rows {
        let evidence: serde_json::Value = crate::from_json(&text(r, "evidence")?, "datasets.evidence")?;
        let e = by.entry(text(r, "holder_org")?).or_default();
        e.0 += 1;
        e.1 += evidence.get("rows").and_then(serde_json::Value::as_i64).unwrap_or(0);
    }
    Ok(by.into_iter().map(|(k, (n, rows))| (k, n, rows)).collect())
}

/// Evaluation grades recorded for `year`, per organisation.
pub async fn evaluations(conn: &mut AnyConnection, year: i32) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT subject_org, grade FROM evaluations WHERE year = $1 ORDER BY subject_org")
        .bind(i64::from(year))
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok((text(r, "subject_org")?, text(r, "grade")?))).collect()
}
