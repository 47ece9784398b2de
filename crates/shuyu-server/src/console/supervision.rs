//! Console screens for supervision (SPEC §6): the authority's alert queue with its evidence and
//! one-action suspension, and the data quality loop (scores, issues, answers). Pages read through
//! the API handlers, so they show exactly what the API would.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use shuyu_authz::{Action, Resource};

use super::html::esc;
use super::{internal, page, signed_in};
use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::i18n::{t, Lang};
use crate::routes::{quality, supervision};
use crate::state::AppState;

fn tr(lang: Lang, key: &str) -> String {
    esc(&t(lang, key))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// The measured values, one `key: value` each.
fn observed(v: &Value) -> String {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("<span class=\"mono\">{}: {}</span>", esc(k), esc(&v.to_string())))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn evidence_table(lang: Lang, events: &Value) -> String {
    let rows: String = events
        .as_array()
        .into_iter()
        .flatten()
        .take(50)
        .map(|e| {
            format!(
                "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                e["seq"],
                esc(s(e, "time")),
                esc(s(e, "actor")),
                esc(s(e, "action")),
                esc(s(e, "resource")),
                esc(s(e, "outcome")),
            )
        })
        .collect();
    let head: String = ["field.seq", "field.time", "field.actor", "field.action", "field.resource", "field.outcome"]
        .iter()
        .map(|k| format!("<th>{}</th>", tr(lang, k)))
        .collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
}

pub async fn alerts_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let list =
        match supervision::list(State(app.clone()), caller.clone(), ApiQuery(supervision::AlertQuery { state: None }))
            .await
        {
            Ok(Json(v)) => v,
            Err(e) => return internal(&app, &caller, e),
        };
    let status = match supervision::status(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let may_act = app.authz.authorize(&caller.principal, Action::AlertAct, &Resource::new("Alert", "any")).is_ok();
    let mut open = String::new();
    let mut handled = String::new();
    for a in list["items"].as_array().into_iter().flatten() {
        let id = s(a, "id");
        if s(a, "state") != "open" {
            handled.push_str(&format!(
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
                tr(lang, &format!("rule.{}", s(a, "rule"))),
                esc(s(a, "subject")),
                tr(lang, &format!("alert_state.{}", s(a, "state"))),
                esc(&format!("{} {}", s(&a["resolution"], "action"), s(&a["resolution"], "reason"))),
                esc(s(a, "handled_at")),
            ));
            continue;
        }
        let full = match supervision::get(State(app.clone()), caller.clone(), Path(id.to_string())).await {
            Ok(Json(v)) => v,
            Err(e) => return internal(&app, &caller, e),
        };
        let actions: String = if may_act {
            full["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|action| {
                    format!(
                        "<form class=\"api-action inline\" data-url=\"/api/v1/alerts/{id}/actions/{action}\" data-action=\"{action}\">\
                         <input name=\"reason\" required placeholder=\"{reason}\"><button type=\"submit\"{danger}>{label}</button>\
                         <span class=\"error\"></span></form>",
                        id = esc(id),
                        reason = tr(lang, "sandbox.reason"),
                        danger = if action == "dismiss" { "" } else { " class=\"primary\"" },
                        label = tr(lang, &format!("alert.{action}")),
                    )
                })
                .collect()
        } else {
            String::new()
        };
        open.push_str(&format!(
            "<div class=\"card\" id=\"alert-{id}\"><h3>{rule}</h3>\
             <p>{subject_l}：<span class=\"mono\">{subject}</span> · {at_l}：<span class=\"mono\">{at}</span></p>\
             <p class=\"muted\">{obs_l}：{obs}</p>\
             <details><summary>{ev_l}（{n}）</summary>{evidence}</details>{actions}</div>",
            id = esc(id),
            rule = tr(lang, &format!("rule.{}", s(a, "rule"))),
            subject_l = tr(lang, "alert.subject"),
            subject = esc(s(a, "subject")),
            at_l = tr(lang, "alert.raised_at"),
            at = esc(s(a, "raised_at")),
            obs_l = tr(lang, "alert.observed"),
            obs = observed(&a["observed"]),
            ev_l = tr(lang, "alert.evidence"),
            n = a["evidence_count"],
            evidence = evidence_table(lang, &full["evidence"]),
        ));
    }
    if open.is_empty() {
        open = format!("<p class=\"muted\" id=\"no-alerts\">{}</p>", tr(lang, "alert.none"));
    }
    let st = &status["status"];
    let body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <p id=\"monitor-status\">{mon}：{pos_l} {pos} · {behind_l} {behind} · {rate_l} {rate:.0}</p>\
         <div id=\"open-alerts\">{open}</div><h2>{handled_l}</h2>\
         <table><thead><tr><th>{rule_l}</th><th>{subject_l}</th><th>{state_l}</th><th>{res_l}</th><th>{time_l}</th></tr></thead><tbody>{handled}</tbody></table>",
        title = tr(lang, "alert.title"),
        intro = tr(lang, "alert.intro"),
        mon = tr(lang, "alert.monitor"),
        pos_l = tr(lang, "alert.position"),
        pos = st["position"],
        behind_l = tr(lang, "alert.behind"),
        behind = status["behind"],
        rate_l = tr(lang, "alert.rate"),
        rate = st["events_per_second"].as_f64().unwrap_or(0.0),
        handled_l = tr(lang, "alert.handled"),
        rule_l = tr(lang, "field.action"),
        subject_l = tr(lang, "alert.subject"),
        state_l = tr(lang, "field.status"),
        res_l = tr(lang, "alert.resolution"),
        time_l = tr(lang, "field.time"),
    );
    page(&app, &caller, "/console/alerts", "nav.alerts", body)
}

pub async fn quality_page(State(app): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let table = match quality::score_table(&app).await {
        Ok(v) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let issues = match quality::list(State(app.clone()), caller.clone()).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let org = caller.user.as_ref().map(|u| u.org_id.to_string()).unwrap_or_default();
    let closer = app.authz.authorize(&caller.principal, Action::QualityIssueListAll, &Resource::platform()).is_ok();
    let score = |v: &Value| v.as_i64().map(|n| n.to_string()).unwrap_or_else(|| "—".into());
    let departments: String = table["departments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(d["holder"].as_str().unwrap_or(s(d, "holder_org"))),
                d["datasets"],
                score(&d["score"]),
                d["open_issues"],
                d["overdue_issues"]
            )
        })
        .collect();
    let datasets: String = table["datasets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(s(d, "name")),
                esc(d["holder"].as_str().unwrap_or("")),
                d["version"],
                score(&d["score"])
            )
        })
        .collect();
    let rows: String = issues["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let id = s(q, "id");
            let mut act = String::new();
            if s(q, "state") == "open" && s(q, "holder_org") == org {
                act.push_str(&format!(
                    "<form class=\"api-action inline\" id=\"answer-{id}\" data-url=\"/api/v1/quality-issues/{id}/answer\" data-action=\"answer\">\
                     <input name=\"answer\" required placeholder=\"{a}\"><button type=\"submit\" class=\"primary\">{a}</button><span class=\"error\"></span></form>",
                    id = esc(id),
                    a = tr(lang, "quality.answer"),
                ));
            }
            if closer && s(q, "state") != "closed" {
                act.push_str(&format!(
                    "<form class=\"api-action inline\" data-url=\"/api/v1/quality-issues/{id}/close\" data-action=\"close\">\
                     <button type=\"submit\">{c}</button><span class=\"error\"></span></form>",
                    id = esc(id),
                    c = tr(lang, "quality.close"),
                ));
            }
            let dimension = q["dimension"].as_str().map(|d| t(lang, &format!("dimension.{d}"))).unwrap_or_default();
            format!(
                "<tr id=\"issue-{id}\"><td>{origin}</td><td>{kind}</td><td>{dimension}</td><td>{desc}</td><td>{due}{overdue}</td><td>{state}</td><td>{answer}</td><td>{act}</td></tr>",
                id = esc(id),
                origin = tr(lang, &format!("quality.origin_{}", s(q, "origin"))),
                kind = tr(lang, &format!("quality.kind_{}", s(q, "kind"))),
                dimension = esc(&dimension),
                desc = esc(s(q, "description")),
                due = esc(s(q, "due_on")),
                overdue = if q["overdue"] == true { format!(" <strong class=\"error\">{}</strong>", tr(lang, "quality.overdue")) } else { String::new() },
                state = tr(lang, &format!("quality.state_{}", s(q, "state"))),
                answer = esc(q["answer"].as_str().unwrap_or("")),
            )
        })
        .collect();
    let head = |keys: &[&str]| keys.iter().map(|k| format!("<th>{}</th>", tr(lang, k))).collect::<String>();
    let body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <h2>{dep_l}</h2><table id=\"quality-departments\"><thead><tr>{dep_h}</tr></thead><tbody>{departments}</tbody></table>\
         <h2>{ds_l}</h2><table><thead><tr>{ds_h}</tr></thead><tbody>{datasets}</tbody></table>\
         <h2>{is_l}</h2><table id=\"quality-issues\"><thead><tr>{is_h}</tr></thead><tbody>{rows}</tbody></table>",
        title = tr(lang, "quality.title"),
        intro = tr(lang, "quality.intro"),
        dep_l = tr(lang, "quality.departments"),
        dep_h = head(&["field.organisation", "quality.datasets", "quality.score", "quality.open_issues", "quality.overdue_issues"]),
        ds_l = tr(lang, "quality.datasets"),
        ds_h = head(&["field.name", "field.organisation", "product.version", "quality.score"]),
        is_l = tr(lang, "quality.issues"),
        is_h = head(&["quality.origin", "field.kind", "field.dimension", "field.description", "quality.due_on", "field.status", "quality.answer", "field.actions"]),
    );
    page(&app, &caller, "/console/quality", "nav.quality", body)
}

/// A bar chart of one daily series, rendered on the server as SVG (no script, no styles).
fn bar_chart(lang: Lang, series: &[Value], key: &str, label_key: &str) -> String {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 24.0;
    let values: Vec<i64> = series.iter().map(|d| d[key].as_i64().unwrap_or(0)).collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let n = values.len().max(1) as f64;
    let slot = (W - LEFT) / n;
    let bars: String = values
        .iter()
        .zip(series)
        .enumerate()
        .map(|(i, (v, d))| {
            let h = (*v as f64 / max as f64) * (H - BOTTOM - 8.0);
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2f6fdb\"><title>{} {}</title></rect>",
                LEFT + i as f64 * slot + slot * 0.1,
                H - BOTTOM - h,
                (slot * 0.8).max(1.0),
                h,
                esc(s(d, "day")),
                v
            )
        })
        .collect();
    let first = series.first().map(|d| s(d, "day")).unwrap_or("");
    let last = series.last().map(|d| s(d, "day")).unwrap_or("");
    format!(
        "<figure class=\"chart\"><figcaption>{label}</figcaption>\
         <svg viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{W}\" y2=\"{base}\" stroke=\"#888\"/>\
         <text x=\"{tx}\" y=\"14\" font-size=\"11\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{base}\" font-size=\"11\" text-anchor=\"end\">0</text>{bars}\
         <text x=\"{LEFT}\" y=\"{H}\" font-size=\"11\">{first}</text>\
         <text x=\"{W}\" y=\"{H}\" font-size=\"11\" text-anchor=\"end\">{last}</text></svg></figure>",
        label = tr(lang, label_key),
        base = H - BOTTOM,
        tx = LEFT - 4.0,
        first = esc(first),
        last = esc(last),
    )
}

pub async fn analytics_page(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<crate::routes::analytics::PeriodQuery>,
) -> Response {
    if let Some(r) = signed_in(&caller) {
        return r;
    }
    let lang = caller.lang;
    let data = match crate::routes::analytics::overview(State(app.clone()), caller.clone(), ApiQuery(q.clone())).await {
        Ok(Json(v)) => v,
        Err(e) => return internal(&app, &caller, e),
    };
    let query = format!(
        "from={}&to={}{}{}",
        s(&data, "from"),
        s(&data, "to"),
        q.operator.as_deref().map(|o| format!("&operator={}", esc(o))).unwrap_or_default(),
        q.department.as_deref().map(|d| format!("&department={}", esc(d))).unwrap_or_default(),
    );
    let series = data["series"].as_array().cloned().unwrap_or_default();
    let mut body = format!(
        "<h1>{title}</h1><p class=\"muted\">{intro}</p>\
         <form class=\"inline\" method=\"get\"><label>{from_l}<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>{to_l}<input type=\"date\" name=\"to\" value=\"{to}\"></label><button class=\"primary\" type=\"submit\">{show}</button></form>\
         <div id=\"analytics-charts\">{calls}{queries}</div><p><a href=\"/api/v1/analytics/daily.csv?{query}\">{daily} · {dl}</a></p>",
        title = tr(lang, "analytics.title"),
        intro = tr(lang, "analytics.intro"),
        from_l = tr(lang, "analytics.from"),
        to_l = tr(lang, "analytics.to"),
        from = esc(s(&data, "from")),
        to = esc(s(&data, "to")),
        show = tr(lang, "analytics.show"),
        calls = bar_chart(lang, &series, "calls", "analytics.calls"),
        queries = bar_chart(lang, &series, "queries", "analytics.queries"),
        daily = tr(lang, "analytics.daily"),
        dl = tr(lang, "analytics.download"),
    );
    for t in data["tables"].as_array().into_iter().flatten() {
        let name = s(t, "name");
        let head: String = t["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("<th>{}</th>", tr(lang, &format!("analytics.{}", c.as_str().unwrap_or("")))))
            .collect();
        let rows: String = t["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let cells: String = r
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let text = match c {
                            Value::String(x) => x.clone(),
                            Value::Null => "—".into(),
                            other => other.to_string(),
                        };
                        format!("<td>{}</td>", esc(&text))
                    })
                    .collect();
                format!("<tr>{cells}</tr>")
            })
            .collect();
        body.push_str(&format!(
            "<h2>{title}</h2><p><a href=\"/api/v1/analytics/{name}.csv?{query}\">{dl}</a></p>\
             <table id=\"analytics-{name}\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
            title = tr(lang, &format!("analytics.{name}")),
            name = esc(name),
            dl = tr(lang, "analytics.download"),
        ));
    }
    page(&app, &caller, "/console/analytics", "nav.analytics", body)
}
