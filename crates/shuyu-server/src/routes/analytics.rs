//! Operation analytics (运营分析, WX §24, SPEC §6.1): the authority's tables for a period —
//! data requests and grants by source department, queries and scans per operator, exports,
//! interface calls per product, revenue by party, quality scores, open alerts — with daily
//! series for the charts, each table also as CSV. `operator` or `department` narrows every
//! table to rows about that organisation.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate, TimeZone};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_authz::{Action, Resource};
use shuyu_core::grants::GrantRequest;
use shuyu_store::analytics::{self as store, Agg};
use shuyu_store::{catalogue, organisations, products, supervision};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First day (China time), inclusive; 30 days before `to` when absent.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; today when absent.
    pub to: Option<NaiveDate>,
    /// Only rows about this operator.
    pub operator: Option<String>,
    /// Only rows about this source department.
    pub department: Option<String>,
}

/// A table: column keys (labels come from the message catalogue) and rows of values.
struct Table {
    name: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    fn json(&self) -> Value {
        json!({ "name": self.name, "columns": self.columns, "rows": self.rows })
    }
}

/// The period as UTC instants `[from 00:00, to+1 00:00)` China time, and as days.
fn period(app: &AppState, q: &PeriodQuery) -> ApiResult<(NaiveDate, NaiveDate, String, String)> {
    let to = q.to.unwrap_or_else(|| app.clock.today());
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to || (to - from).num_days() > 366 * 3 {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "from",
            "a day on or before `to`, at most three years earlier",
            "起始日期须不晚于截止日期，且跨度不超过三年",
        )]));
    }
    Ok((from, to, utc_start(from), utc_start(to + Duration::days(1))))
}

/// The instant a China-time day starts, as stored (UTC text).
pub fn utc_start(d: NaiveDate) -> String {
    let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    shuyu_core::clock::china_offset()
        .from_local_datetime(&local)
        .single()
        .map(|t| shuyu_core::clock::format_instant(t.with_timezone(&chrono::Utc)))
        .unwrap_or_default()
}

/// Every table and series for the period.
pub async fn report(app: &AppState, q: &PeriodQuery) -> ApiResult<Value> {
    let (from, to, a, b) = period(app, q)?;
    let mut conn = app.store.acquire().await?;
    let names: BTreeMap<String, String> =
        organisations::list(&mut conn).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    let name = |id: &str| json!(names.get(id).cloned().unwrap_or_else(|| id.to_string()));
    let keep = |org: &str, filter: &Option<String>| filter.as_deref().is_none_or(|f| f == org);

    // Data requests and grants by the source department whose entries they name.
    let holders: BTreeMap<String, String> =
        catalogue::list(&mut conn, None, false).await?.into_iter().map(|e| (e.id, e.holder_org.to_string())).collect();
    let mut by_dept: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (operator, state, request) in store::grants_requested(&mut conn, &a, &b).await? {
        if !keep(&operator, &q.operator) {
            continue;
        }
        let Ok(req) = serde_json::from_str::<GrantRequest>(&request) else { continue };
        let mut depts: Vec<&String> = req.tables.iter().filter_map(|t| holders.get(&t.entry_id)).collect();
        depts.sort();
        depts.dedup();
        for d in depts {
            let e = by_dept.entry(d.clone()).or_default();
            e.0 += 1;
            match state.as_str() {
                "approved" | "provisioned" | "expired" | "revoked" => e.1 += 1,
                "refused" => e.2 += 1,
                _ => {}
            }
        }
    }
    let requests = Table {
        name: "requests_by_department",
        columns: vec!["department", "requests", "granted", "refused"],
        rows: by_dept
            .iter()
            .filter(|(d, _)| keep(d, &q.department))
            .map(|(d, (n, g, r))| vec![name(d), json!(n), json!(g), json!(r)])
            .collect(),
    };

    let queries = Table {
        name: "queries_by_operator",
        columns: vec!["operator", "queries", "bytes_scanned", "cpu_ms", "rows_returned"],
        rows: store::queries_by_operator(&mut conn, &a, &b)
            .await?
            .into_iter()
            .filter(|r| keep(&r.keys[0], &q.operator))
            .map(|r| row(&r, name(&r.keys[0]), 1))
            .collect(),
    };
    let exports = Table {
        name: "exports_by_operator",
        columns: vec!["operator", "state", "exports", "rows"],
        rows: store::exports_by_operator(&mut conn, &a, &b)
            .await?
            .into_iter()
            .filter(|r| keep(&r.keys[0], &q.operator))
            .map(|r| {
                let mut v = vec![name(&r.keys[0]), json!(r.keys[1])];
                v.extend(r.values.iter().map(|x| json!(x)));
                v
            })
            .collect(),
    };
    let product_names: BTreeMap<String, String> =
        products::list_products(&mut conn, None, false).await?.into_iter().map(|p| (p.id, p.name)).collect();
    let calls = Table {
        name: "calls_by_product",
        columns: vec!["product", "operator", "outcome", "calls", "rows"],
        rows: store::calls_by_product(&mut conn, &a, &b)
            .await?
            .into_iter()
            .filter(|r| keep(&r.keys[1], &q.operator))
            .map(|r| {
                let mut v = vec![
                    json!(product_names.get(&r.keys[0]).cloned().unwrap_or_else(|| r.keys[0].clone())),
                    name(&r.keys[1]),
                    json!(r.keys[2]),
                ];
                v.extend(r.values.iter().map(|x| json!(x)));
                v
            })
            .collect(),
    };
    // Revenue by party: the account kind and the organisation it belongs to, as credited.
    let revenue = Table {
        name: "revenue_by_party",
        columns: vec!["party", "organisation", "fen"],
        rows: store::postings_by_account(&mut conn, &a, &b)
            .await?
            .into_iter()
            .filter_map(|r| {
                let (party, org) = r.keys[0].rsplit_once(':')?;
                let party = party.replace(':', "_");
                (party != "cash" && keep(org, &q.operator) && keep(org, &q.department))
                    .then(|| vec![json!(party), name(org), json!(-r.values[0])])
            })
            .collect(),
    };
    drop(conn);
    let scores = crate::routes::quality::score_table(app).await?;
    let quality = Table {
        name: "quality_by_department",
        columns: vec!["department", "datasets", "score", "open_issues", "overdue_issues"],
        rows: scores["departments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| keep(d["holder_org"].as_str().unwrap_or(""), &q.department))
            .map(|d| {
                vec![
                    name(d["holder_org"].as_str().unwrap_or("")),
                    d["datasets"].clone(),
                    d["score"].clone(),
                    d["open_issues"].clone(),
                    d["overdue_issues"].clone(),
                ]
            })
            .collect(),
    };
    let mut conn = app.store.acquire().await?;
    let alerts = Table {
        name: "open_alerts",
        columns: vec!["rule", "open"],
        rows: supervision::open_alert_counts(&mut conn)
            .await?
            .into_iter()
            .map(|(r, n)| vec![json!(r), json!(n)])
            .collect(),
    };

    // Daily series in China time, every day of the period present.
    let mut days: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
    let mut d = from;
    while d <= to {
        days.insert(d, (0, 0));
        d += Duration::days(1);
    }
    for r in store::calls_by_day(&mut conn, &from.to_string(), &(to + Duration::days(1)).to_string()).await? {
        if let Some(v) = r.keys[0].parse::<NaiveDate>().ok().and_then(|day| days.get_mut(&day)) {
            v.0 += r.values[0];
        }
    }
    for r in store::queries_by_hour(&mut conn, &a, &b).await? {
        let Some(t) = shuyu_core::clock::parse_instant(&format!("{}:00:00.000Z", r.keys[0])) else { continue };
        let day = t.with_timezone(&shuyu_core::clock::china_offset()).date_naive();
        if let Some(v) = days.get_mut(&day) {
            v.1 += r.values[0];
        }
    }
    let series: Vec<Value> = days.iter().map(|(d, (c, q))| json!({ "day": d, "calls": c, "queries": q })).collect();

    let tables = [requests, queries, exports, calls, revenue, quality, alerts];
    Ok(json!({
        "from": from, "to": to, "operator": q.operator, "department": q.department,
        "series": series,
        "tables": tables.iter().map(Table::json).collect::<Vec<_>>(),
    }))
}

fn row(r: &Agg, first: Value, skip: usize) -> Vec<Value> {
    let mut v = vec![first];
    v.extend(r.keys.iter().skip(skip).map(|k| json!(k)));
    v.extend(r.values.iter().map(|x| json!(x)));
    v
}

/// The dashboard's data: every table and the daily series.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "supervision", params(PeriodQuery),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn overview(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::AnalyticsRead, &Resource::platform()).await?;
    let out = report(&app, &q).await?;
    app.record_access(
        &caller,
        Action::AnalyticsRead,
        "analytics:overview",
        json!({ "from": out["from"], "to": out["to"] }),
    )
    .await?;
    Ok(Json(out))
}

fn csv_cell(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    // Quote when needed; a leading formula character is neutralised for spreadsheets.
    let s = if s.starts_with(['=', '+', '-', '@']) && !s.chars().skip(1).all(|c| c.is_ascii_digit()) {
        format!("'{s}")
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One table as CSV (UTF-8 with a byte-order mark, so spreadsheets read the Chinese).
#[utoipa::path(get, path = "/api/v1/analytics/{table}.csv", tag = "supervision", params(("table" = String, Path), PeriodQuery),
    responses((status = 200, content_type = "text/csv"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn csv(
    State(app): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Response> {
    app.authorize(&caller, Action::AnalyticsRead, &Resource::platform()).await?;
    let name = file.strip_suffix(".csv").ok_or_else(|| ApiError::not_found("table"))?;
    let out = report(&app, &q).await?;
    let (columns, rows): (Vec<Value>, Vec<Value>) = if name == "daily" {
        (
            vec![json!("day"), json!("calls"), json!("queries")],
            out["series"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| json!([d["day"], d["calls"], d["queries"]]))
                .collect(),
        )
    } else {
        let t = out["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .ok_or_else(|| ApiError::not_found("table"))?;
        (t["columns"].as_array().cloned().unwrap_or_default(), t["rows"].as_array().cloned().unwrap_or_default())
    };
    let lang = caller.lang;
    let mut body = String::from("\u{feff}");
    body.push_str(
        &columns
            .iter()
            .map(|c| csv_cell(&json!(crate::i18n::t(lang, &format!("analytics.{}", c.as_str().unwrap_or(""))))))
            .collect::<Vec<_>>()
            .join(","),
    );
    body.push_str("\r\n");
    for r in &rows {
        body.push_str(&r.as_array().into_iter().flatten().map(csv_cell).collect::<Vec<_>>().join(","));
        body.push_str("\r\n");
    }
    app.record_access(
        &caller,
        Action::AnalyticsRead,
        &format!("analytics:{name}"),
        json!({ "rows": rows.len(), "format": "csv" }),
    )
    .await?;
    let disposition = format!(
        "attachment; filename=\"{name}-{}-{}.csv\"",
        out["from"].as_str().unwrap_or(""),
        out["to"].as_str().unwrap_or("")
    );
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
